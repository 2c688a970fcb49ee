import test from 'ava'
import fc from 'fast-check'
import * as E from 'fp-ts/lib/Either.js'
import {
  type BrokerUrl,
  formatBrokerUrl,
  parseConnectionString,
  redactConnectionString,
} from '../../src/mqtt/url.js'

const leftOf = (r: E.Either<string, BrokerUrl>): string => (E.isLeft(r) ? r.left : `Right(${JSON.stringify(r.right)})`)
const parsed = (s: string): BrokerUrl | string => {
  const r = parseConnectionString(s)
  return E.isRight(r) ? r.right : `Left(${r.left})`
}

// parseConnectionString: accepted forms

test('parseConnectionString › gives every scheme its default port', (t) => {
  t.deepEqual(parsed('mqtt://broker.local'), { transport: 'mqtt', host: 'broker.local', port: 1883 })
  t.deepEqual(parsed('mqtts://broker.local'), { transport: 'mqtts', host: 'broker.local', port: 8883 })
  t.deepEqual(parsed('ws://broker.local'), { transport: 'ws', host: 'broker.local', port: 80, path: '/mqtt' })
  t.deepEqual(parsed('wss://broker.local'), { transport: 'wss', host: 'broker.local', port: 443, path: '/mqtt' })
})

test('parseConnectionString › keeps an explicit port, even the default one for ws', (t) => {
  t.deepEqual(parsed('mqtt://10.0.0.5:1884'), { transport: 'mqtt', host: '10.0.0.5', port: 1884 })
  t.deepEqual(parsed('ws://h:80'), { transport: 'ws', host: 'h', port: 80, path: '/mqtt' })
  t.deepEqual(parsed('mqtt://h:65535'), { transport: 'mqtt', host: 'h', port: 65535 })
  t.deepEqual(parsed('mqtt://h:1'), { transport: 'mqtt', host: 'h', port: 1 })
})

test('parseConnectionString › accepts an upper-case scheme and keeps the host as written', (t) => {
  t.deepEqual(parsed('MQTTS://Broker.Example.COM'), { transport: 'mqtts', host: 'Broker.Example.COM', port: 8883 })
  t.deepEqual(parsed('wss://Broker.Example.COM'), {
    transport: 'wss',
    host: 'Broker.Example.COM',
    port: 443,
    path: '/mqtt',
  })
})

test('parseConnectionString › reads username and password', (t) => {
  t.deepEqual(
    parsed('mqtt://alice:s3cret@broker:1883'),
    { transport: 'mqtt', host: 'broker', port: 1883, username: 'alice', password: 's3cret' },
  )
  t.deepEqual(parsed('mqtt://alice@broker'), { transport: 'mqtt', host: 'broker', port: 1883, username: 'alice' })
  t.deepEqual(
    parsed('mqtt://alice:@broker'),
    { transport: 'mqtt', host: 'broker', port: 1883, username: 'alice', password: '' },
  )
  t.deepEqual(parsed('mqtt://@broker'), { transport: 'mqtt', host: 'broker', port: 1883 })
})

test('parseConnectionString › percent-decodes credentials with special characters, keeping case', (t) => {
  t.deepEqual(
    parsed('mqtts://al%40ice%3Aadmin:P%40ss%2Fw%3Ard%23%3F%25%20%C3%A9X@broker.example.com'),
    {
      transport: 'mqtts',
      host: 'broker.example.com',
      port: 8883,
      username: 'al@ice:admin',
      password: 'P@ss/w:rd#?% éX',
    },
  )
})

test('parseConnectionString › tolerates an unencoded @ and : in the password as WHATWG URL does', (t) => {
  t.deepEqual(
    parsed('mqtt://bob:p@ss:w@rd@broker'),
    { transport: 'mqtt', host: 'broker', port: 1883, username: 'bob', password: 'p@ss:w@rd' },
  )
})

test('parseConnectionString › reads a percent-decoded client id from the single path segment', (t) => {
  t.deepEqual(
    parsed('mqtt://broker:1883/my-client'),
    { transport: 'mqtt', host: 'broker', port: 1883, clientId: 'my-client' },
  )
  t.deepEqual(
    parsed('mqtts://u:p@broker/dev%2F42%20%E2%82%AC'),
    { transport: 'mqtts', host: 'broker', port: 8883, username: 'u', password: 'p', clientId: 'dev/42 €' },
  )
  t.deepEqual(parsed('mqtt://broker/'), { transport: 'mqtt', host: 'broker', port: 1883 })
})

test('parseConnectionString › reads IPv6 hosts in brackets, with and without port', (t) => {
  t.deepEqual(parsed('mqtt://[::1]'), { transport: 'mqtt', host: '::1', port: 1883 })
  t.deepEqual(parsed('mqtts://[2001:db8::7]:8884/c'), {
    transport: 'mqtts',
    host: '2001:db8::7',
    port: 8884,
    clientId: 'c',
  })
  t.deepEqual(parsed('ws://u:p@[::1]:9001'), {
    transport: 'ws',
    host: '::1',
    port: 9001,
    path: '/mqtt',
    username: 'u',
    password: 'p',
  })
  t.deepEqual(parsed('mqtt://[fe80::1%25eth0]:1883'), { transport: 'mqtt', host: 'fe80::1%eth0', port: 1883 })
})

test('parseConnectionString › keeps the WebSocket path and query string as written', (t) => {
  t.deepEqual(parsed('wss://h/ws'), { transport: 'wss', host: 'h', port: 443, path: '/ws' })
  t.deepEqual(parsed('ws://h:8080/'), { transport: 'ws', host: 'h', port: 8080, path: '/' })
  t.deepEqual(
    parsed('wss://h/mqtt/v2?token=a%2Fb&x=1'),
    { transport: 'wss', host: 'h', port: 443, path: '/mqtt/v2?token=a%2Fb&x=1' },
  )
  t.deepEqual(parsed('ws://h?token=t'), { transport: 'ws', host: 'h', port: 80, path: '/mqtt?token=t' })
})

test('parseConnectionString › round-trips any credentials and client id that are percent-encoded', (t) => {
  const text = fc.string({ unit: 'binary' })
  const mqttString = text.filter((s) => !s.includes('\u0000'))
  const enc = encodeURIComponent
  fc.assert(
    fc.property(mqttString, text, mqttString.filter((s) => s.length > 0), (username, password, clientId) => {
      const u = parsed(`mqtt://${enc(username)}:${enc(password)}@broker:1883/${enc(clientId)}`)
      return typeof u !== 'string' && u.username === username && u.password === password && u.clientId === clientId
    }),
  )
  t.pass()
})

// parseConnectionString: rejected forms

test('parseConnectionString › rejects the empty string with the expected form', (t) => {
  for (const s of ['', '   ']) {
    const reason = leftOf(parseConnectionString(s))
    t.regex(reason, /empty/)
    t.true(reason.includes('mqtt|mqtts|ws|wss://[username[:password]@]host[:port][/client_id]'))
  }
})

test('parseConnectionString › rejects whitespace and control characters and says where', (t) => {
  t.regex(leftOf(parseConnectionString(' mqtt://h')), /whitespace .* position 0/)
  t.regex(leftOf(parseConnectionString('mqtt://u:pass word@h')), /position 13.*%20/)
  t.regex(leftOf(parseConnectionString('mqtt://h\n')), /position 8/)
  t.regex(leftOf(parseConnectionString('mqtt://h\t:1883')), /whitespace/)
})

test('parseConnectionString › says tcp is spelled mqtt', (t) => {
  t.regex(leftOf(parseConnectionString('tcp://broker:1883')), /unknown scheme 'tcp:\/\/'.*spelled mqtt:\/\//)
})

test('parseConnectionString › points http, https, ssl and tls at the MQTT spelling', (t) => {
  t.regex(leftOf(parseConnectionString('http://broker')), /'http:\/\/'.*ws:\/\/.*wss:\/\//)
  t.regex(leftOf(parseConnectionString('https://broker')), /'https:\/\/'.*wss:\/\//)
  t.regex(leftOf(parseConnectionString('ssl://broker')), /mqtts:\/\//)
  t.regex(leftOf(parseConnectionString('tls://broker')), /mqtts:\/\//)
})

test('parseConnectionString › rejects any other scheme with the expected form', (t) => {
  const reason = leftOf(parseConnectionString('amqp://broker'))
  t.regex(reason, /unknown scheme 'amqp:\/\/'; expected mqtt\|mqtts\|ws\|wss:\/\//)
})

test('parseConnectionString › rejects a missing scheme and suggests one without leaking the password', (t) => {
  const reason = leftOf(parseConnectionString('user:hunter2@broker.local:1883'))
  t.regex(reason, /no scheme/)
  t.regex(reason, /mqtt:\/\/user:\*\*\*@broker\.local:1883/)
  t.false(reason.includes('hunter2'))
  t.regex(leftOf(parseConnectionString('mqtt:broker')), /'mqtt:' must be followed by '\/\/'/)
  t.regex(leftOf(parseConnectionString('localhost')), /no scheme.*mqtt:\/\/localhost/)
})

test('parseConnectionString › rejects a missing host', (t) => {
  for (const s of ['mqtt://', 'mqtt://:1883', 'mqtt://user:pw@', 'wss:///mqtt', 'mqtt://u@:1883/c']) {
    t.regex(leftOf(parseConnectionString(s)), /no host/, s)
  }
})

test('parseConnectionString › rejects ports outside 1..65535 and non-numeric ports', (t) => {
  t.regex(leftOf(parseConnectionString('mqtt://h:0')), /port 0 is out of range; give a number 1\.\.65535/)
  t.regex(leftOf(parseConnectionString('mqtt://h:65536')), /port 65536 is out of range/)
  t.regex(leftOf(parseConnectionString('mqtt://h:99999999999999999999')), /out of range/)
  t.regex(leftOf(parseConnectionString('mqtt://h:abc')), /not a number/)
  t.regex(leftOf(parseConnectionString('mqtt://h:-1')), /not a number/)
  t.regex(leftOf(parseConnectionString('mqtt://h:')), /port after ':' is empty.*default 1883/)
})

test('parseConnectionString › rejects a client id with further path segments', (t) => {
  for (const s of ['mqtt://h/a/b', 'mqtt://h/a/', 'mqtts://h//a']) {
    t.regex(leftOf(parseConnectionString(s)), /client id cannot contain '\/'.*%2F/, s)
  }
})

test('parseConnectionString › rejects a query string or fragment on mqtt and a fragment on ws', (t) => {
  t.regex(leftOf(parseConnectionString('mqtt://h/c?x=1')), /no query string or fragment/)
  t.regex(leftOf(parseConnectionString('mqtt://h?x=1')), /no query string or fragment/)
  t.regex(leftOf(parseConnectionString('mqtts://h#frag')), /no query string or fragment/)
  t.regex(leftOf(parseConnectionString('wss://h/mqtt#frag')), /fragment/)
})

test('parseConnectionString › rejects bad IPv6 hosts', (t) => {
  t.regex(leftOf(parseConnectionString('mqtt://::1')), /must be in brackets/)
  t.regex(leftOf(parseConnectionString('mqtt://[::1')), /closing '\]'/)
  t.regex(leftOf(parseConnectionString('mqtt://[nope]')), /not a valid IPv6 address/)
  t.regex(leftOf(parseConnectionString('mqtt://[::1]x')), /unexpected text after the IPv6 address/)
})

test('parseConnectionString › rejects characters a host name cannot have', (t) => {
  t.regex(leftOf(parseConnectionString('mqtt://bro$ker')), /host 'bro\$ker' contains characters/)
  t.regex(leftOf(parseConnectionString('mqtt://a%20b')), /contains characters/)
})

test('parseConnectionString › rejects malformed percent-escapes without echoing the secret', (t) => {
  const reason = leftOf(parseConnectionString('mqtt://u:100%sure@h'))
  t.regex(reason, /password has a malformed percent-escape.*%25/)
  t.false(reason.includes('100'))
  t.regex(leftOf(parseConnectionString('mqtt://h/%E2%82')), /client id has a malformed/)
  t.regex(leftOf(parseConnectionString('mqtt://%zz@h')), /username has a malformed/)
})

test('parseConnectionString › rejects U+0000 in the username and client id but not in the password', (t) => {
  t.regex(leftOf(parseConnectionString('mqtt://a%00b@h')), /username cannot contain %00/)
  t.regex(leftOf(parseConnectionString('mqtt://h/a%00')), /client id cannot contain %00/)
  t.true(E.isRight(parseConnectionString('mqtt://u:a%00b@h')))
})

test('parseConnectionString › explains an unencoded / in a password without echoing it', (t) => {
  for (const s of ['mqtt://bob:xyzzy/q@broker', 'mqtt://bob:9731/5@broker', 'wss://bob:xyzzy/q@broker']) {
    const reason = leftOf(parseConnectionString(s))
    t.regex(reason, /percent-encode '\/'/, s)
    t.false(reason.includes('xyzzy') || reason.includes('9731'), s)
  }
})

// redactConnectionString

test('redactConnectionString › masks the password and keeps everything else', (t) => {
  t.is(redactConnectionString('mqtt://user:pass@host:1883'), 'mqtt://user:***@host:1883')
  t.is(redactConnectionString('MQTTS://u%40x:p%2Fq@host/client'), 'MQTTS://u%40x:***@host/client')
  t.is(redactConnectionString('mqtt://bob:p@ss:w@rd@broker'), 'mqtt://bob:***@broker')
  t.is(redactConnectionString('ws://u:p@[::1]:9001/mqtt'), 'ws://u:***@[::1]:9001/mqtt')
  t.is(redactConnectionString('mqtt://alice:@host'), 'mqtt://alice:***@host')
})

test('redactConnectionString › leaves strings without a password unchanged', (t) => {
  for (const s of ['mqtt://host:1883', 'mqtt://alice@host', 'wss://h/mqtt?x=1', 'not a url', '', 'mqtt://h:1883/c:d']) {
    t.is(redactConnectionString(s), s)
  }
})

test('redactConnectionString › masks secret-looking query parameters of ws URLs', (t) => {
  t.is(
    redactConnectionString('wss://h/mqtt?x=1&X-Amz-Signature=abc&token=t0k&keep=yes'),
    'wss://h/mqtt?x=1&X-Amz-Signature=***&token=***&keep=yes',
  )
})

test('redactConnectionString › masks passwords in strings that do not parse', (t) => {
  t.is(redactConnectionString('tcp://user:secret@host:1883'), 'tcp://user:***@host:1883')
  t.is(redactConnectionString('mqtt://bob:pa/ss@broker'), 'mqtt://bob:***@broker')
  t.is(redactConnectionString('mqtt://u:p@h:99999'), 'mqtt://u:***@h:99999')
  t.is(redactConnectionString('failed: mqtt://a:b@h x and ws://c:d@e y'), 'failed: mqtt://a:***@h x and ws://c:***@e y')
})

test('redactConnectionString › never leaves a generated password in the output', (t) => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9!$&'()*+,;=:@/?#._~-]{6,20}$/), (password) => {
      const out = redactConnectionString(`mqtt://user:${password}@broker.local:1883`)
      return !out.includes(password)
    }),
  )
  t.pass()
})

// formatBrokerUrl

test('formatBrokerUrl › writes the canonical redacted form with an explicit port', (t) => {
  const alice: BrokerUrl = { transport: 'mqtts', host: 'example.com', port: 8883, username: 'alice', password: 'pw' }
  t.is(formatBrokerUrl(alice), 'mqtts://alice:***@example.com:8883')
  t.is(formatBrokerUrl({ transport: 'mqtt', host: 'h', port: 1883 }), 'mqtt://h:1883')
  t.is(formatBrokerUrl({ transport: 'mqtt', host: 'h', port: 1883, username: 'al@ice' }), 'mqtt://al%40ice@h:1883')
  t.is(formatBrokerUrl({ transport: 'mqtt', host: '::1', port: 1883, clientId: 'dev/1' }), 'mqtt://[::1]:1883/dev%2F1')
  t.is(formatBrokerUrl({ transport: 'wss', host: 'h', port: 443, path: '/ws?token=abc' }), 'wss://h:443/ws?token=***')
  t.is(formatBrokerUrl({ transport: 'ws', host: 'h', port: 80 }), 'ws://h:80/mqtt')
})

test('formatBrokerUrl › reads back to the same BrokerUrl when there is no password', (t) => {
  for (const s of ['mqtt://h', 'mqtts://al%40ice@[fe80::1%25eth0]:1/a%2Fb', 'wss://u@h/p?q=1', 'ws://h']) {
    const parsed = parseConnectionString(s)
    if (E.isLeft(parsed)) return t.fail(parsed.left)
    t.deepEqual(parseConnectionString(formatBrokerUrl(parsed.right)), parsed, s)
  }
})
