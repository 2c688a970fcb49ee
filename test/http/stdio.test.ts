/** The status page beside MCP over real stdio: a taken port, a free port, --no-http, and a refused setting leave MCP answering. */
import test from 'ava'
import { createServer, type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { startStdioServer, type StdioServer } from '../helpers/mcp.js'
import { eventually, sleep } from './harness.js'

async function started(t: { teardown(f: () => Promise<void>): void }, args: string[], env: Record<string, string> = {}): Promise<StdioServer> {
  const server = await startStdioServer(args, env)
  t.teardown(() => server.close())
  return server
}

/** The JSON log lines written so far. */
const logLines = (server: StdioServer): Array<Record<string, unknown>> =>
  server
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>]
      } catch {
        return []
      }
    })

test('a taken HTTP port is logged and MCP keeps answering', async (t) => {
  const holder = createServer()
  holder.listen(0, '127.0.0.1')
  await once(holder, 'listening')
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  const port = (holder.address() as AddressInfo).port

  const server = await started(t, ['--http-port', String(port)])
  const line = await eventually('the taken-port log line', () => logLines(server).find((l) => /already in use/.test(String(l['msg']))))
  t.is(line['level'], 'warn')
  t.regex(String(line['msg']), new RegExp(`port ${port}`))
  const tools = await server.client.listTools()
  t.true(tools.tools.length > 0)
})

test('--http-port 0 logs the URL, /health answers, and MCP answers over stdio', async (t) => {
  const server = await started(t, ['--http-port', '0'])
  const line = await eventually('the listening log line', () => logLines(server).find((l) => typeof l['url'] === 'string'))
  const url = String(line['url'])
  t.regex(url, /^http:\/\/127\.0\.0\.1:\d+\/$/)
  t.regex(String(line['msg']), /status page/)
  const health = await fetch(new URL('health', url))
  t.is(health.status, 200)
  t.like(await health.json(), { status: 'ok' })
  const page = await fetch(url)
  t.is(page.status, 200)
  t.regex(page.headers.get('content-type') ?? '', /text\/html/)
  t.true((await server.client.listTools()).tools.length > 0)
})

test('--no-http and MQTT_MCP_HTTP=false start no HTTP server', async (t) => {
  for (const [args, env] of [
    [['--no-http', '--http-port', '0'], {}],
    [['--http-port', '0'], { MQTT_MCP_HTTP: 'false' }],
  ] as const) {
    const server = await started(t, [...args], env)
    t.true((await server.client.listTools()).tools.length > 0)
    await sleep(1500)
    t.false(logLines(server).some((l) => /status page/.test(String(l['msg']))), server.stderr())
  }
})

test('listening beyond loopback without a token is refused with an error, and MCP carries on', async (t) => {
  const server = await started(t, ['--http-host', '0.0.0.0', '--http-port', '0'])
  const line = await eventually('the refusal', () => logLines(server).find((l) => /status page not started/.test(String(l['msg']))))
  t.is(line['level'], 'error')
  t.regex(String(line['msg']), /MQTT_MCP_HTTP_TOKEN/)
  t.true((await server.client.listTools()).tools.length > 0)
})

test('beyond loopback with a token the server listens and wants the token; the token is never logged', async (t) => {
  const token = 'stdio-token-5d1e9a0b7c'
  const server = await started(t, ['--http-host', '0.0.0.0', '--http-port', '0'], { MQTT_MCP_HTTP_TOKEN: token })
  const line = await eventually('the listening log line', () => logLines(server).find((l) => typeof l['url'] === 'string'))
  const port = new URL(String(line['url'])).port
  const base = `http://127.0.0.1:${port}/`
  t.is((await fetch(new URL('api/status', base))).status, 401)
  t.is((await fetch(new URL('api/status', base), { headers: { authorization: `Bearer ${token}` } })).status, 200)
  t.false(server.stderr().includes(token))
})
