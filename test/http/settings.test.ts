/** The HTTP settings of loadConfig: defaults, flags and variables, --no-http, and bad values. */
import test from 'ava'
import * as E from 'fp-ts/lib/Either.js'
import { loadConfig, usage, type Config } from '../../src/config.js'

const config = (argv: readonly string[], env: Record<string, string> = {}): Config => {
  const r = loadConfig(argv, env)
  if (E.isLeft(r) || 'help' in r.right || 'version' in r.right) throw new Error(`expected a Config, got ${JSON.stringify(r)}`)
  return r.right
}
const failure = (argv: readonly string[], env: Record<string, string> = {}): string => {
  const r = loadConfig(argv, env)
  if (E.isRight(r)) throw new Error(`expected Left, got ${JSON.stringify(r.right)}`)
  return r.left
}

test('loadConfig › serves HTTP on 127.0.0.1:8091 without a token by default', (t) => {
  t.like(config([]), { http: true, httpPort: 8091, httpHost: '127.0.0.1', httpToken: undefined, httpAllowedHosts: [] })
})

test('loadConfig › reads the HTTP settings from flags and the environment, flags first', (t) => {
  t.like(config(['--http-port', '0', '--http-host', '::1', '--http-token', 't0k', '--http-allowed-hosts', 'Status.Example.com, 10.0.0.5:9000']), {
    httpPort: 0,
    httpHost: '::1',
    httpToken: 't0k',
    httpAllowedHosts: ['status.example.com', '10.0.0.5:9000'],
  })
  t.like(config([], { MQTT_MCP_HTTP_PORT: '9001', MQTT_MCP_HTTP_HOST: '0.0.0.0', MQTT_MCP_HTTP_TOKEN: 'env-token', MQTT_MCP_HTTP_ALLOWED_HOSTS: 'box.lan' }), {
    httpPort: 9001,
    httpHost: '0.0.0.0',
    httpToken: 'env-token',
    httpAllowedHosts: ['box.lan'],
  })
  t.is(config(['--http-port', '9002'], { MQTT_MCP_HTTP_PORT: '9001' }).httpPort, 9002)
  t.is(config(['--http-host', '[::1]']).httpHost, '::1')
})

test('loadConfig › turns HTTP off with --no-http or MQTT_MCP_HTTP=false; the last of --http and --no-http wins', (t) => {
  t.false(config(['--no-http']).http)
  t.false(config([], { MQTT_MCP_HTTP: 'false' }).http)
  t.false(config(['--http', '--no-http']).http)
  t.true(config(['--no-http', '--http']).http)
  t.true(config(['--http'], { MQTT_MCP_HTTP: 'false' }).http)
  t.false(config(['--no-http'], { MQTT_MCP_HTTP: 'true' }).http)
})

test('loadConfig › refuses bad HTTP settings, naming them, and never shows the token', (t) => {
  t.regex(failure(['--http-port', '65536']), /--http-port.*0 to 65535/)
  t.regex(failure([], { MQTT_MCP_HTTP_PORT: '-1' }), /MQTT_MCP_HTTP_PORT/)
  t.regex(failure(['--http-host', 'not a host']), /--http-host/)
  t.regex(failure(['--http-allowed-hosts', 'ok.example,bad host']), /--http-allowed-hosts/)
  t.regex(failure(['--http-allowed-hosts', 'a.example:99999']), /--http-allowed-hosts/)
  t.regex(failure(['--no-http=1']), /--help/)
  const msg = failure(['--http-token='])
  t.regex(msg, /--http-token=\*\*\*/)
})

test('usage › lists the HTTP settings and --no-http', (t) => {
  const text = usage()
  for (const s of ['--http-port', 'MQTT_MCP_HTTP_PORT', '--http-host', 'MQTT_MCP_HTTP_HOST', '--http-token', 'MQTT_MCP_HTTP_TOKEN', '--http-allowed-hosts', 'MQTT_MCP_HTTP_ALLOWED_HOSTS', '--no-http', '(default 8091)', '(default 127.0.0.1)']) {
    t.true(text.includes(s), s)
  }
})
