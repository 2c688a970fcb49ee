import test from 'ava'
import { createLogger, type LogLevel, redactFields, redactUrlsInText, silentLogger } from '../src/log.js'

/** A logger writing into an array, and the parsed lines. */
const capture = (level: LogLevel = 'debug', base: Record<string, unknown> = {}) => {
  const lines: string[] = []
  const logger = createLogger(level, base, (line) => lines.push(line))
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  return { logger, lines, records }
}

// output format

test('createLogger writes one JSON object per line with time, level and message', (t) => {
  const { logger, lines, records } = capture('info')
  logger.info('session opened', { session_id: 'abc', count: 2 })
  t.is(lines.length, 1)
  t.false(lines[0]?.includes('\n'))
  const [r] = records()
  t.is(r?.['level'], 'info')
  t.is(r?.['msg'], 'session opened')
  t.is(r?.['session_id'], 'abc')
  t.is(r?.['count'], 2)
  t.regex(String(r?.['time']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
})

test('createLogger escapes newlines inside messages so every record stays on one line', (t) => {
  const { logger, lines, records } = capture()
  logger.warn('line one\nline two', { detail: 'a\nb' })
  t.is(lines.length, 1)
  t.false(lines[0]?.includes('\n'))
  t.is(records()[0]?.['msg'], 'line one\nline two')
})

test('createLogger labels each method with its level', (t) => {
  const { logger, records } = capture('debug')
  logger.debug('d')
  logger.info('i')
  logger.warn('w')
  logger.error('e')
  t.deepEqual(records().map((r) => [r['level'], r['msg']]), [
    ['debug', 'd'],
    ['info', 'i'],
    ['warn', 'w'],
    ['error', 'e'],
  ])
})

// level filtering

test('createLogger drops records below its level', (t) => {
  const expected: Record<LogLevel, string[]> = {
    debug: ['debug', 'info', 'warn', 'error'],
    info: ['info', 'warn', 'error'],
    warn: ['warn', 'error'],
    error: ['error'],
    silent: [],
  }
  for (const [level, kept] of Object.entries(expected) as Array<[LogLevel, string[]]>) {
    const { logger, records } = capture(level)
    logger.debug('x')
    logger.info('x')
    logger.warn('x')
    logger.error('x')
    t.deepEqual(records().map((r) => r['level']), kept, level)
  }
})

test('createLogger defaults to info', (t) => {
  const lines: string[] = []
  const logger = createLogger(undefined, undefined, (l) => lines.push(l))
  logger.debug('hidden')
  logger.info('shown')
  t.is(lines.length, 1)
})

test('silentLogger never writes, even to stderr', (t) => {
  const write = process.stderr.write
  let written = 0
  process.stderr.write = (() => {
    written++
    return true
  }) as typeof process.stderr.write
  try {
    silentLogger.error('nope')
    silentLogger.child({ a: 1 }).error('nope')
  } finally {
    process.stderr.write = write
  }
  t.is(written, 0)
})

// child loggers

test('child loggers merge their fields over the parent fields', (t) => {
  const { logger, records } = capture('info', { service: 'mqtt-mcp', session_id: 'parent' })
  const child = logger.child({ session_id: 's1', tool: 'publish' })
  const grandchild = child.child({ call: 7 })
  child.info('from child')
  grandchild.info('from grandchild', { extra: true })
  logger.info('from parent')
  const [c, g, p] = records()
  t.like(c, { service: 'mqtt-mcp', session_id: 's1', tool: 'publish', msg: 'from child' })
  t.like(g, { service: 'mqtt-mcp', session_id: 's1', tool: 'publish', call: 7, extra: true })
  t.is(p?.['session_id'], 'parent')
  t.false(p !== undefined && 'tool' in p)
})

test('child loggers keep the level of their parent', (t) => {
  const { logger, lines } = capture('warn')
  logger.child({ a: 1 }).info('dropped')
  logger.child({ a: 1 }).warn('kept')
  t.is(lines.length, 1)
})

test('call fields win over the fields of the logger', (t) => {
  const { logger, records } = capture('info', { tool: 'base' })
  logger.info('m', { tool: 'call' })
  t.is(records()[0]?.['tool'], 'call')
})

// redaction

test('redactFields hides secret-looking keys', (t) => {
  t.deepEqual(
    redactFields({
      password: 'p1',
      Password: 'p2',
      mqttPassword: 'p3',
      token: 't1',
      access_token: 't2',
      secret: 's1',
      clientSecret: 's2',
      authorization: 'Bearer x',
      Authorization: 'Bearer y',
      passphrase: 'pp',
      key: 'PEM',
      credentials: { user: 'u', pass: 'p' },
      username: 'alice',
      keepalive: 60,
    }),
    {
      password: '***',
      Password: '***',
      mqttPassword: '***',
      token: '***',
      access_token: '***',
      secret: '***',
      clientSecret: '***',
      authorization: '***',
      Authorization: '***',
      passphrase: '***',
      key: '***',
      credentials: '***',
      username: 'alice',
      keepalive: 60,
    },
  )
})

test('redactFields hides secret keys at any depth, inside objects and arrays', (t) => {
  const input = {
    session: { spec: { tls: { passphrase: 'canary-1', ca: 'PEM' }, password: 'canary-2' } },
    list: [{ token: 'canary-3' }, [{ secret: 'canary-4' }]],
    headers: { authorization: 'Bearer canary-5' },
  }
  const out = redactFields(input)
  const json = JSON.stringify(out)
  t.false(/canary/.test(json), json)
  t.deepEqual(out, {
    session: { spec: { tls: { passphrase: '***', ca: 'PEM' }, password: '***' } },
    list: [{ token: '***' }, [{ secret: '***' }]],
    headers: { authorization: '***' },
  })
})

test('redactFields leaves empty and missing secrets as they are, so logs show that none was given', (t) => {
  t.deepEqual(redactFields({ password: '', token: null, secret: undefined }), { password: '', token: null, secret: undefined })
})

test('redactFields keeps other values unchanged and does not modify its input', (t) => {
  const input = { n: 1, b: false, nil: null, s: 'text', arr: [1, 'two'], password: 'x' }
  const copy = structuredClone(input)
  t.deepEqual(redactFields(input), { ...copy, password: '***' })
  t.deepEqual(input, copy)
})

test('redactFields masks URL userinfo passwords inside string values', (t) => {
  t.deepEqual(redactFields({ url: 'mqtt://u:canary-pass@h', note: 'tried wss://bob:canary-pass@broker:443/mqtt twice' }), {
    url: 'mqtt://u:***@h',
    note: 'tried wss://bob:***@broker:443/mqtt twice',
  })
})

test('redactFields reduces an Error to its name and redacted message', (t) => {
  const e = new TypeError('connect to mqtt://u:canary-pass@h:1883 failed')
  t.deepEqual(redactFields({ err: e }), { err: { name: 'TypeError', message: 'connect to mqtt://u:***@h:1883 failed' } })
})

test('redactFields cuts off structures deeper than it walks', (t) => {
  let deep: Record<string, unknown> = { password: 'canary-deep' }
  for (let i = 0; i < 20; i++) deep = { next: deep }
  const json = JSON.stringify(redactFields(deep))
  t.true(json.includes('[deep]'))
  t.false(json.includes('canary-deep'))
})

test('redactUrlsInText masks the password of every URL in free text', (t) => {
  t.is(redactUrlsInText('mqtt://u:canary-pass@h'), 'mqtt://u:***@h')
  t.is(redactUrlsInText('a mqtt://u:p1@h1 and mqtts://v:p2@h2:8883'), 'a mqtt://u:***@h1 and mqtts://v:***@h2:8883')
  t.is(redactUrlsInText('MQTT://U:P@H'), 'MQTT://U:***@H')
  t.is(redactUrlsInText('ws://:only-pass@h'), 'ws://:***@h')
})

test('redactUrlsInText masks a password holding an unencoded @ or /', (t) => {
  for (const url of ['mqtt://u:canary@pass@h:1883', 'mqtt://u:canary/pass@h', 'mqtt://a@b:canary-pass@h']) {
    const out = redactUrlsInText(`connect ${url} failed`)
    t.false(out.includes('canary'), out)
    t.true(out.endsWith('@h:1883 failed') || out.endsWith('@h failed'), out)
  }
})

test('redactUrlsInText leaves URLs without a password alone', (t) => {
  for (const s of ['mqtt://h:1883', 'mqtt://user@h:1883', 'ws://h:80/mqtt?x=1', 'see https://example.com/a', 'mail bob@example.com']) {
    t.is(redactUrlsInText(s), s)
  }
})

test('log lines never contain a password, whether in the message, a field or an error', (t) => {
  const { logger, lines } = capture('debug', { password: 'canary-base' })
  logger.error('could not reach mqtt://u:canary-msg@h', {
    url: 'mqtts://u:canary-field@h:8883',
    err: new Error('auth failed for ws://x:canary-err@h/mqtt'),
    nested: { deeper: { token: 'canary-token' } },
  })
  logger.child({ secret: 'canary-child' }).warn('child')
  t.is(lines.length, 2)
  for (const line of lines) t.false(line.includes('canary'), line)
  t.true(lines[0]?.includes('mqtt://u:***@h'))
})
