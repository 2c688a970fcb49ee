import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import { type Config, loadConfig, usage } from '../src/config.js'

type Env = Readonly<Record<string, string | undefined>>

/** The decoded Config, or a test failure naming what came back instead. */
const config = (argv: readonly string[], env: Env = {}): Config => {
  const r = loadConfig(argv, env)
  if (E.isLeft(r)) throw new Error(`expected a Config, got Left(${r.left})`)
  if ('help' in r.right || 'version' in r.right) throw new Error(`expected a Config, got ${JSON.stringify(r.right)}`)
  return r.right
}

/** The error message, or a test failure when the config decoded. */
const failure = (argv: readonly string[], env: Env = {}): string => {
  const r = loadConfig(argv, env)
  if (E.isRight(r)) throw new Error(`expected Left, got ${JSON.stringify(r.right)}`)
  return r.left
}

const ENV_VARS = [
  'MQTT_URL',
  'MQTT_USERNAME',
  'MQTT_PASSWORD',
  'MQTT_MCP_READ_ONLY',
  'MQTT_MCP_PUBLISH_ALLOW',
  'MQTT_MCP_MAX_SESSIONS',
  'MQTT_MCP_SESSION_TTL_SECONDS',
  'MQTT_MCP_OUTPUT_BUDGET_CHARS',
  'MQTT_MCP_MAX_PAYLOAD_BYTES',
  'MQTT_MCP_LOG_LEVEL',
  'MQTT_MCP_DEMO',
]

// defaults

test('loadConfig › gives every setting its default when neither flags nor env are set', (t) => {
  const c = config([])
  t.is(c.mqttUrl, undefined)
  t.is(c.mqttUsername, undefined)
  t.is(c.mqttPassword, undefined)
  t.is(c.readOnly, false)
  t.deepEqual(c.publishAllow, [])
  t.is(c.maxSessions, 5)
  t.is(c.sessionTtlSeconds, 3600)
  t.is(c.outputBudgetChars, 60000)
  t.is(c.maxPayloadBytes, 1048576)
  t.is(c.logLevel, 'info')
  t.is(c.demo, false)
})

test('loadConfig › ignores environment variables it does not know', (t) => {
  t.deepEqual(config([], { PATH: '/usr/bin', MQTT_MCP_UNKNOWN: 'x', HOME: '/root' }), config([]))
})

test('loadConfig › treats an empty MQTT_URL, MQTT_USERNAME or MQTT_PASSWORD as unset', (t) => {
  const c = config([], { MQTT_URL: '', MQTT_USERNAME: '', MQTT_PASSWORD: '' })
  t.is(c.mqttUrl, undefined)
  t.is(c.mqttUsername, undefined)
  t.is(c.mqttPassword, undefined)
})

// environment variables

test('loadConfig › reads the default broker, username and password from the environment', (t) => {
  const c = config([], { MQTT_URL: 'mqtts://alice:s3cret@broker.example.com:8883', MQTT_USERNAME: 'bob', MQTT_PASSWORD: 'hunter2' })
  t.is(c.mqttUrl, 'mqtts://alice:s3cret@broker.example.com:8883')
  t.is(c.mqttUsername, 'bob')
  t.is(c.mqttPassword, 'hunter2')
})

test('loadConfig › accepts every transport in MQTT_URL', (t) => {
  for (const url of ['mqtt://localhost', 'mqtts://h:8883', 'ws://h/mqtt', 'wss://h:443/mqtt', 'mqtt://[::1]:1883/client-1']) {
    t.is(config([], { MQTT_URL: url }).mqttUrl, url, url)
  }
})

test('loadConfig › keeps a password exactly as given, spaces at either end included', (t) => {
  t.is(config([], { MQTT_PASSWORD: ' pass word ' }).mqttPassword, ' pass word ')
  t.is(config(['--mqtt-password', '  x']).mqttPassword, '  x')
})

test('loadConfig › reads MQTT_MCP_READ_ONLY in every spelling of true and false', (t) => {
  for (const v of ['1', 'true', 'yes', 'on', 'TRUE', 'Yes', 'On', ' true ']) {
    t.true(config([], { MQTT_MCP_READ_ONLY: v }).readOnly, JSON.stringify(v))
  }
  for (const v of ['0', 'false', 'no', 'off', 'FALSE', 'No', 'OFF', '']) {
    t.false(config([], { MQTT_MCP_READ_ONLY: v }).readOnly, JSON.stringify(v))
  }
})

test('loadConfig › reads MQTT_MCP_DEMO in every spelling of true and false', (t) => {
  for (const v of ['1', 'true', 'yes', 'on']) t.true(config([], { MQTT_MCP_DEMO: v }).demo, v)
  for (const v of ['0', 'false', 'no', 'off']) t.false(config([], { MQTT_MCP_DEMO: v }).demo, v)
})

test('loadConfig › splits MQTT_MCP_PUBLISH_ALLOW on commas, trimming blanks and dropping empty entries', (t) => {
  t.deepEqual(config([], { MQTT_MCP_PUBLISH_ALLOW: 'sensors/#, cmd/+/set ,,demo/out' }).publishAllow, ['sensors/#', 'cmd/+/set', 'demo/out'])
  t.deepEqual(config([], { MQTT_MCP_PUBLISH_ALLOW: 'single/topic' }).publishAllow, ['single/topic'])
  t.deepEqual(config([], { MQTT_MCP_PUBLISH_ALLOW: '' }).publishAllow, [])
  t.deepEqual(config([], { MQTT_MCP_PUBLISH_ALLOW: ' , ' }).publishAllow, [])
})

test('loadConfig › reads the numeric limits from the environment', (t) => {
  const c = config([], {
    MQTT_MCP_MAX_SESSIONS: '12',
    MQTT_MCP_SESSION_TTL_SECONDS: '600',
    MQTT_MCP_OUTPUT_BUDGET_CHARS: '20000',
    MQTT_MCP_MAX_PAYLOAD_BYTES: '4096',
  })
  t.is(c.maxSessions, 12)
  t.is(c.sessionTtlSeconds, 600)
  t.is(c.outputBudgetChars, 20000)
  t.is(c.maxPayloadBytes, 4096)
})

test('loadConfig › accepts the numeric limits at both ends of their ranges', (t) => {
  const low = config([], {
    MQTT_MCP_MAX_SESSIONS: '1',
    MQTT_MCP_SESSION_TTL_SECONDS: '1',
    MQTT_MCP_OUTPUT_BUDGET_CHARS: '2000',
    MQTT_MCP_MAX_PAYLOAD_BYTES: '1',
  })
  t.deepEqual([low.maxSessions, low.sessionTtlSeconds, low.outputBudgetChars, low.maxPayloadBytes], [1, 1, 2000, 1])
  const high = config([], {
    MQTT_MCP_MAX_SESSIONS: '100',
    MQTT_MCP_SESSION_TTL_SECONDS: '604800',
    MQTT_MCP_OUTPUT_BUDGET_CHARS: '10000000',
    MQTT_MCP_MAX_PAYLOAD_BYTES: '268435455',
  })
  t.deepEqual([high.maxSessions, high.sessionTtlSeconds, high.outputBudgetChars, high.maxPayloadBytes], [100, 604800, 10_000_000, 268_435_455])
})

test('loadConfig › reads every log level from MQTT_MCP_LOG_LEVEL', (t) => {
  for (const level of ['debug', 'info', 'warn', 'error', 'silent'] as const) {
    t.is(config([], { MQTT_MCP_LOG_LEVEL: level }).logLevel, level)
  }
})

// flags

test('loadConfig › reads every setting from its flag', (t) => {
  const c = config([
    '--mqtt-url', 'mqtt://broker:1884',
    '--mqtt-username', 'alice',
    '--mqtt-password', 'pw',
    '--read-only',
    '--publish-allow', 'a/#,b/+',
    '--max-sessions', '9',
    '--session-ttl-seconds', '120',
    '--output-budget-chars', '5000',
    '--max-payload-bytes', '2048',
    '--log-level', 'debug',
    '--demo',
  ])
  t.like(c, {
    mqttUrl: 'mqtt://broker:1884',
    mqttUsername: 'alice',
    mqttPassword: 'pw',
    readOnly: true,
    publishAllow: ['a/#', 'b/+'],
    maxSessions: 9,
    sessionTtlSeconds: 120,
    outputBudgetChars: 5000,
    maxPayloadBytes: 2048,
    logLevel: 'debug',
    demo: true,
  })
})

test('loadConfig › accepts --flag=value as well as --flag value', (t) => {
  t.is(config(['--max-sessions=4']).maxSessions, 4)
  t.is(config(['--log-level=warn']).logLevel, 'warn')
})

test('loadConfig › lets a flag win over its environment variable', (t) => {
  t.is(config(['--max-sessions', '3'], { MQTT_MCP_MAX_SESSIONS: '7' }).maxSessions, 3)
  t.is(config([], { MQTT_MCP_MAX_SESSIONS: '7' }).maxSessions, 7)
  t.true(config(['--read-only'], { MQTT_MCP_READ_ONLY: 'false' }).readOnly)
  t.true(config(['--demo'], { MQTT_MCP_DEMO: '0' }).demo)
  t.is(config(['--log-level', 'error'], { MQTT_MCP_LOG_LEVEL: 'debug' }).logLevel, 'error')
  t.is(config(['--mqtt-url', 'mqtt://flag-host'], { MQTT_URL: 'mqtt://env-host' }).mqttUrl, 'mqtt://flag-host')
  t.deepEqual(config(['--publish-allow', 'x/#'], { MQTT_MCP_PUBLISH_ALLOW: 'y/#' }).publishAllow, ['x/#'])
})

test('loadConfig › uses a flag even when the environment variable holds a bad value', (t) => {
  t.is(config(['--max-sessions', '3'], { MQTT_MCP_MAX_SESSIONS: 'abc' }).maxSessions, 3)
})

test('loadConfig › keeps the environment value of a boolean whose flag is absent', (t) => {
  t.true(config([], { MQTT_MCP_READ_ONLY: 'yes' }).readOnly)
  t.true(config(['--max-sessions', '2'], { MQTT_MCP_DEMO: 'on' }).demo)
})

// bad values

test('loadConfig › rejects a non-numeric MQTT_MCP_MAX_SESSIONS, naming the variable and the range', (t) => {
  const msg = failure([], { MQTT_MCP_MAX_SESSIONS: 'abc' })
  t.regex(msg, /MQTT_MCP_MAX_SESSIONS/)
  t.regex(msg, /"abc"/)
  t.regex(msg, /an integer from 1 to 100/)
})

test('loadConfig › rejects MQTT_MCP_MAX_SESSIONS=0 and 101 as out of range', (t) => {
  t.regex(failure([], { MQTT_MCP_MAX_SESSIONS: '0' }), /MQTT_MCP_MAX_SESSIONS="0".*an integer from 1 to 100/)
  t.regex(failure([], { MQTT_MCP_MAX_SESSIONS: '101' }), /MQTT_MCP_MAX_SESSIONS="101".*an integer from 1 to 100/)
})

test('loadConfig › rejects negative, fractional, signed and exponent numbers', (t) => {
  for (const v of ['-1', '1.5', '+3', '1e2', '0x10', 'Infinity', 'NaN']) {
    t.regex(failure([], { MQTT_MCP_MAX_SESSIONS: v }), /^Invalid MQTT_MCP_MAX_SESSIONS=.*: expected an integer from 1 to 100\.$/, v)
  }
})

test('loadConfig › names each numeric variable and its range when it is out of range', (t) => {
  t.regex(failure([], { MQTT_MCP_SESSION_TTL_SECONDS: '604801' }), /MQTT_MCP_SESSION_TTL_SECONDS.*an integer from 1 to 604800/)
  t.regex(failure([], { MQTT_MCP_OUTPUT_BUDGET_CHARS: '1999' }), /MQTT_MCP_OUTPUT_BUDGET_CHARS.*an integer from 2000 to 10000000/)
  t.regex(failure([], { MQTT_MCP_MAX_PAYLOAD_BYTES: '268435456' }), /MQTT_MCP_MAX_PAYLOAD_BYTES.*an integer from 1 to 268435455/)
  t.regex(failure([], { MQTT_MCP_MAX_PAYLOAD_BYTES: '0' }), /MQTT_MCP_MAX_PAYLOAD_BYTES/)
})

test('loadConfig › names the flag, not the variable, when the bad value came from a flag', (t) => {
  const msg = failure(['--max-sessions', '0'], { MQTT_MCP_MAX_SESSIONS: '7' })
  t.regex(msg, /--max-sessions="0"/)
  t.notRegex(msg, /MQTT_MCP_MAX_SESSIONS/)
})

test('loadConfig › rejects an unknown log level, listing the levels', (t) => {
  const msg = failure(['--log-level', 'loud'])
  t.regex(msg, /--log-level="loud"/)
  t.regex(msg, /one of debug, info, warn, error, silent/)
  t.regex(failure([], { MQTT_MCP_LOG_LEVEL: 'verbose' }), /MQTT_MCP_LOG_LEVEL="verbose"/)
})

test('loadConfig › rejects a boolean that is neither true nor false', (t) => {
  const msg = failure([], { MQTT_MCP_READ_ONLY: 'maybe' })
  t.regex(msg, /MQTT_MCP_READ_ONLY="maybe"/)
  t.regex(msg, /true or false/)
  t.regex(failure([], { MQTT_MCP_DEMO: '2' }), /MQTT_MCP_DEMO/)
})

test('loadConfig › rejects an MQTT_URL that is not a broker URL', (t) => {
  for (const url of ['http://x', 'broker:1883', 'mqtt://', 'mqtt://h:99999', 'tcp://h:1883']) {
    const msg = failure([], { MQTT_URL: url })
    t.regex(msg, /^Invalid MQTT_URL=/, url)
    t.regex(msg, /a broker URL such as mqtt:\/\/host:1883/, url)
  }
  t.regex(failure(['--mqtt-url', 'http://x']), /--mqtt-url="http:\/\/x"/)
})

test('loadConfig › never echoes the password inside a bad MQTT_URL', (t) => {
  for (const url of ['http://u:canary-pass@x', 'mqtt://u:canary-pass@h:99999', 'mqtt://u:canary-pass@']) {
    const msg = failure([], { MQTT_URL: url })
    t.regex(msg, /MQTT_URL/)
    t.false(msg.includes('canary-pass'), msg)
  }
  t.false(failure(['--mqtt-url', 'ws://u:canary-pass@h:0']).includes('canary-pass'))
})

test('loadConfig › rejects a bad filter in the publish allow list, naming the variable', (t) => {
  for (const list of ['a/#/b', 'ok/#,a/#/b', 'a+/b', 'sensors/#,cmd/x#']) {
    const msg = failure([], { MQTT_MCP_PUBLISH_ALLOW: list })
    t.regex(msg, /MQTT_MCP_PUBLISH_ALLOW/, list)
    t.regex(msg, /comma-separated MQTT topic filters/, list)
  }
  t.regex(failure(['--publish-allow', 'a/#/b']), /--publish-allow="a\/#\/b"/)
})

test('loadConfig › never shows the password when another setting is bad', (t) => {
  const msg = failure([], { MQTT_PASSWORD: 'canary-pass', MQTT_URL: 'mqtt://u:canary-pass@h:0', MQTT_MCP_MAX_SESSIONS: 'abc' })
  t.false(msg.includes('canary-pass'), msg)
})

test('loadConfig › rejects an unknown flag, pointing to --help', (t) => {
  const msg = failure(['--max-sesions', '3'])
  t.regex(msg, /--max-sesions/)
  t.regex(msg, /--help/)
  t.regex(failure(['--nope=1']), /--help/)
})

test('loadConfig › rejects positional arguments and flags missing their value, pointing to --help', (t) => {
  t.regex(failure(['mqtt://localhost']), /--help/)
  t.regex(failure(['--max-sessions']), /--max-sessions.*--help/)
  t.regex(failure(['--read-only=false']), /--read-only.*--help/)
})

// --help, --version, usage

test('loadConfig › returns the usage text for --help and stops there', (t) => {
  const r = loadConfig(['--help', '--max-sessions', 'abc'], {})
  t.deepEqual(r, E.right({ help: usage() }))
})

test('loadConfig › answers --version without reading the rest', (t) => {
  t.deepEqual(loadConfig(['--version'], { MQTT_MCP_MAX_SESSIONS: 'abc' }), E.right({ version: true }))
})

test('usage › lists every environment variable and its flag', (t) => {
  const text = usage()
  for (const env of ENV_VARS) t.true(text.includes(env), env)
  for (const flag of [
    '--mqtt-url', '--mqtt-username', '--mqtt-password', '--read-only', '--publish-allow', '--max-sessions',
    '--session-ttl-seconds', '--output-budget-chars', '--max-payload-bytes', '--log-level', '--demo', '--help', '--version',
  ]) {
    t.true(text.includes(flag), flag)
  }
})

test('usage › shows the defaults of the numeric settings and the log level', (t) => {
  const text = usage()
  for (const d of ['(default 5)', '(default 3600)', '(default 60000)', '(default 1048576)', '(default info)']) {
    t.true(text.includes(d), d)
  }
})

test('usage › puts each flag on the same line as its environment variable', (t) => {
  const lines = usage().split('\n')
  for (const [flag, env] of [
    ['--max-sessions', 'MQTT_MCP_MAX_SESSIONS'],
    ['--mqtt-password', 'MQTT_PASSWORD'],
    ['--demo', 'MQTT_MCP_DEMO'],
  ] as const) {
    t.true(lines.some((l) => l.includes(`${flag} `) && l.includes(env)), flag)
  }
})

