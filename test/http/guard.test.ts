/** Host, Origin and token checks: the pure rules, then the routes and the WebSocket upgrade through inject. */
import test from 'ava'
import { buildApp, HttpConfigError } from '../../src/http/app.js'
import { bearerOf, hostAllowed, isLoopbackHost, originAllowed, parseAuthority, tokenMatches, type GuardOptions } from '../../src/http/guard.js'
import { silentLogger } from '../../src/log.js'
import { VERSION } from '../../src/version.js'
import { startInProcess } from '../helpers/mcp.js'
import { harness, HOST_HEADER, openFeed, PORT } from './harness.js'

const local: GuardOptions = { host: '127.0.0.1', port: () => 8091, allowedHosts: [] }

// pure rules

test('isLoopbackHost › knows 127.0.0.0/8, ::1 and localhost, and nothing else', (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST']) t.true(isLoopbackHost(h), h)
  for (const h of ['0.0.0.0', '::', '192.168.1.10', 'example.com', 'localhost.example.com', '128.0.0.1']) t.false(isLoopbackHost(h), h)
})

test('parseAuthority › reads names, IPv4 and bracketed IPv6 with and without a port', (t) => {
  t.deepEqual(parseAuthority('Example.COM:8091'), { name: 'example.com', port: 8091 })
  t.deepEqual(parseAuthority('[::1]:80'), { name: '[::1]', port: 80 })
  t.deepEqual(parseAuthority('10.0.0.5'), { name: '10.0.0.5', port: undefined })
  for (const bad of ['', 'a:b:c', 'host:99999', 'user@host', 'a/b', '::1']) t.is(parseAuthority(bad), undefined, bad)
})

test('hostAllowed › takes loopback names on the bound port only', (t) => {
  for (const h of ['127.0.0.1:8091', 'localhost:8091', '[::1]:8091', 'LocalHost:8091']) t.true(hostAllowed(h, local), h)
  for (const h of [undefined, '', '127.0.0.1', '127.0.0.1:8092', 'evil.example:8091', 'attacker.com', '127.0.0.1.nip.io:8091']) t.false(hostAllowed(h, local), String(h))
})

test('hostAllowed › takes the configured host and the allowed hosts (any port unless one is given)', (t) => {
  const o: GuardOptions = { host: 'box.lan', port: () => 8091, allowedHosts: ['status.example.com', '10.0.0.5:9000'] }
  t.true(hostAllowed('box.lan:8091', o))
  t.false(hostAllowed('box.lan:8092', o))
  t.true(hostAllowed('status.example.com', o))
  t.true(hostAllowed('status.example.com:443', o))
  t.true(hostAllowed('10.0.0.5:9000', o))
  t.false(hostAllowed('10.0.0.5:8091', o))
  // a wildcard listen address is no Host name
  t.false(hostAllowed('0.0.0.0:8091', { ...o, host: '0.0.0.0' }))
})

test('originAllowed › takes this server as http or https and refuses other sites, null and odd forms', (t) => {
  t.true(originAllowed('http://127.0.0.1:8091', local))
  t.true(originAllowed('http://localhost:8091', local))
  t.true(originAllowed('http://[::1]:8091', local))
  for (const o of ['http://127.0.0.1:8092', 'http://evil.example:8091', 'null', 'file://', 'http://127.0.0.1', 'ws://127.0.0.1:8091', 'garbage']) {
    t.false(originAllowed(o, local), o)
  }
  const proxied: GuardOptions = { ...local, allowedHosts: ['status.example.com'] }
  t.true(originAllowed('https://status.example.com', proxied))
  t.false(originAllowed('https://status.example.com.evil.example', proxied))
})

test('bearerOf and tokenMatches › read a bearer token and compare exactly', (t) => {
  t.is(bearerOf('Bearer abc'), 'abc')
  t.is(bearerOf('bearer  abc '), 'abc')
  t.is(bearerOf('Basic abc'), undefined)
  t.is(bearerOf(undefined), undefined)
  t.true(tokenMatches('s3cret', 's3cret'))
  t.false(tokenMatches('s3cret', 's3cre'))
  t.false(tokenMatches('', 's3cret'))
})

// routes

test('a foreign Host gets 403 on every route and on the WebSocket upgrade', async (t) => {
  const h = await harness(t)
  for (const url of ['/health', '/api/status', '/api/sessions', '/api/tool-calls', '/', '/app.js', '/nothing']) {
    const r = await h.inject({ url, headers: { host: `rebind.attacker.example:${PORT}` } })
    t.is(r.statusCode, 403, url)
    t.is(r.json<{ error: { code: string } }>().error.code, 'FORBIDDEN_HOST')
  }
  await t.throwsAsync(openFeed(h, '/ws', { host: `rebind.attacker.example:${PORT}` }), { message: /403/ })
  t.is((await h.inject('/health')).statusCode, 200, 'the right Host still works')
})

test('a foreign Origin gets 403 on routes and on the WebSocket upgrade; our own origin passes', async (t) => {
  const h = await harness(t)
  const r = await h.inject({ url: '/api/sessions', headers: { origin: 'http://evil.example' } })
  t.is(r.statusCode, 403)
  t.is(r.json<{ error: { code: string } }>().error.code, 'FORBIDDEN_ORIGIN')
  await t.throwsAsync(openFeed(h, '/ws', { origin: 'http://evil.example' }), { message: /403/ })
  t.is((await h.inject({ url: '/api/sessions', headers: { origin: `http://${HOST_HEADER}` } })).statusCode, 200)
  const feed = await openFeed(h, '/ws', { origin: `http://localhost:${PORT}` })
  t.teardown(() => feed.socket.terminate())
  t.is((await feed.log.next((f) => f.type === 'hello')).type, 'hello')
})

test('no response carries CORS headers, preflight included', async (t) => {
  const h = await harness(t)
  for (const r of [
    await h.inject({ url: '/api/status', headers: { origin: `http://${HOST_HEADER}` } }),
    await h.inject({ url: '/api/status', method: 'OPTIONS', headers: { origin: `http://${HOST_HEADER}`, 'access-control-request-method': 'GET' } }),
    await h.inject({ url: '/api/status', headers: { origin: 'http://evil.example' } }),
  ]) {
    t.deepEqual(Object.keys(r.headers).filter((k) => k.startsWith('access-control-')), [])
  }
})

test('beyond loopback the token is required: none or wrong gets 401, right gets 200', async (t) => {
  const token = 'tok-' + 'x'.repeat(28)
  const h = await harness(t, { host: '0.0.0.0', token })
  const none = await h.inject('/api/status')
  t.is(none.statusCode, 401)
  t.is(none.headers['www-authenticate'], 'Bearer')
  t.is(none.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED')
  t.is((await h.inject({ url: '/api/status', headers: { authorization: 'Bearer wrong' } })).statusCode, 401)
  t.is((await h.inject({ url: '/health', headers: { authorization: `Basic ${token}` } })).statusCode, 401)
  t.is((await h.inject({ url: '/api/status', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  // the API takes the header only; the page and /ws take ?token= too
  t.is((await h.inject(`/api/status?token=${token}`)).statusCode, 401)
  t.is((await h.inject('/')).statusCode, 401)
  t.is((await h.inject('/?token=wrong')).statusCode, 401)
  t.is((await h.inject(`/?token=${token}`)).statusCode, 200)
  await t.throwsAsync(openFeed(h, '/ws'), { message: /401/ })
  await t.throwsAsync(openFeed(h, '/ws?token=wrong'), { message: /401/ })
  const feed = await openFeed(h, `/ws?token=${token}`)
  t.teardown(() => feed.socket.terminate())
  const hello = await feed.log.next((f) => f.type === 'hello')
  t.false(JSON.stringify(hello).includes(token))
  // static assets hold no data and a <script src> cannot carry a token
  t.is((await h.inject('/app.js')).statusCode, 200)
  t.is((await h.inject('/style.css')).statusCode, 200)
  for (const r of [none, await h.inject(`/?token=${token}`)]) t.false(r.body.includes(token))
})

test('a token set on loopback is required too', async (t) => {
  const h = await harness(t, { token: 'local-token-123' })
  t.is((await h.inject('/health')).statusCode, 401)
  t.is((await h.inject({ url: '/health', headers: { authorization: 'Bearer local-token-123' } })).statusCode, 200)
})

test('buildApp refuses to listen beyond loopback without a token', async (t) => {
  const mcp = await startInProcess()
  t.teardown(() => mcp.close())
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'box.lan']) {
    const e = t.throws(() => buildApp({ app: mcp.app, logger: silentLogger, version: VERSION, host, port: 0, allowedHosts: [] }), { instanceOf: HttpConfigError })
    t.regex(e?.message ?? '', /MQTT_MCP_HTTP_TOKEN/)
    t.throws(() => buildApp({ app: mcp.app, logger: silentLogger, version: VERSION, host, port: 0, allowedHosts: [], token: '' }), { instanceOf: HttpConfigError })
  }
})
