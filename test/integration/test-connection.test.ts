/**
 * mqtt_test_connection end to end through the SDK Client: a healthy aedes (every layer), a closed port, an
 * unresolvable host, read-only mode, no password in the result, and TLS against Mosquitto with a CA and server
 * certificate made by openssl (unknown CA, trusted CA, hostname mismatch, unverified, not TLS).
 */
import { execFile } from 'node:child_process'
import { accessSync, constants as fsConstants } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { startEmbeddedBroker } from '../../src/demo/broker.js'
import { testConnection } from '../../src/tools/test-connection.js'
import { tools } from '../../src/tools/index.js'
import type { Tool } from '../../src/tools/tool.js'
import { freePort, mosquittoPath, startAedes, startMosquitto, type TestBroker } from '../helpers/brokers.js'
import { call, ok, startInProcess, textOf, type InProcessServer } from '../helpers/mcp.js'

interface Layer {
  layer: string
  ok: boolean
  skipped?: boolean
  ms: number
  detail: string
  info?: Record<string, unknown>
}

interface Diagnosis {
  ok: boolean
  broker: { url: string; host: string; port: number; transport: string }
  layers: Layer[]
  failed_layer: string | null
  cause: string | null
  hint: string | null
  protocol_version: number | null
}

const served: readonly Tool[] = [...new Map([...tools, testConnection].map((x) => [x.name, x])).values()]
const execFileAsync = promisify(execFile)
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function server(env: Record<string, string> = {}): Promise<InProcessServer> {
  return startInProcess(env, { tools: served })
}

const layer = (d: Diagnosis, name: string): Layer | undefined => d.layers.find((l) => l.layer === name)

test('mqtt_test_connection walks every layer of a healthy aedes and closes its probe', async (t) => {
  const b = await startEmbeddedBroker({ host: '127.0.0.1', port: 0 })
  const s = await server()
  t.teardown(async () => {
    await s.close()
    await b.close()
  })
  const result = await call(s.client, 'mqtt_test_connection', { connection_string: `mqtt://someone:s3cret-pw@localhost:${b.port}` })
  t.not(result.isError, true)
  t.false(textOf(result).includes('s3cret-pw'), 'no password in the result')
  const d = result.structuredContent as unknown as Diagnosis
  t.true(d.ok, JSON.stringify(d.layers))
  t.is(d.failed_layer, null)
  t.is(d.cause, null)
  t.is(d.protocol_version, 4)
  t.deepEqual(d.layers.map((l) => l.layer), ['dns', 'tcp', 'mqtt', 'loopback'])
  t.true(d.layers.every((l) => l.ok && typeof l.ms === 'number' && l.ms >= 0))
  t.true((layer(d, 'dns')?.info?.['addresses'] as string[]).includes('127.0.0.1'))
  t.like(layer(d, 'mqtt')?.info, { protocol_version: 4, session_present: false })
  t.regex(layer(d, 'mqtt')!.info!['fallback'] as string, /MQTT 5 was refused/)
  t.regex(layer(d, 'loopback')!.detail, /received it back/)
  t.regex(d.broker.url, /^mqtt:\/\/someone:\*\*\*@localhost:\d+$/)
  // the probe is gone: no session was opened and aedes has no client left
  const sessions = await ok<{ sessions: unknown[] }>(s.client, 'mqtt_list_active_connections')
  t.deepEqual(sessions.sessions, [])
  for (let i = 0; i < 40 && b.aedes.connectedClients > 0; i++) await sleep(25)
  t.is(b.aedes.connectedClients, 0)
})

test('mqtt_test_connection explains a password given without a username', async (t) => {
  const b = await startAedes()
  const s = await server()
  t.teardown(async () => {
    await s.close()
    await b.close()
  })
  const result = await call(s.client, 'mqtt_test_connection', { connection_string: b.url, password: 'hunter2', protocol_version: 4 })
  t.false(textOf(result).includes('hunter2'))
  const d = result.structuredContent as unknown as Diagnosis
  t.is(d.failed_layer, 'mqtt')
  t.regex(d.cause!, /password was given without a username/)
})

test('mqtt_test_connection names tcp for a closed port, as a result and not an error', async (t) => {
  const s = await server()
  t.teardown(() => s.close())
  const port = await freePort()
  const result = await call(s.client, 'mqtt_test_connection', { connection_string: `mqtt://127.0.0.1:${port}` })
  t.not(result.isError, true)
  const d = result.structuredContent as unknown as Diagnosis
  t.false(d.ok)
  t.is(d.failed_layer, 'tcp')
  t.regex(d.cause!, new RegExp(`TCP connection refused: nothing listens on 127\\.0\\.0\\.1:${port}`))
  t.like(layer(d, 'dns'), { ok: true, skipped: true })
  t.is(layer(d, 'mqtt'), undefined)
  t.is(d.protocol_version, null)
})

test('mqtt_test_connection names dns for a host that does not resolve', async (t) => {
  const s = await server()
  t.teardown(() => s.close())
  const d = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: 'mqtt://no-such-host.invalid:1883' })
  t.false(d.ok)
  t.is(d.failed_layer, 'dns')
  t.regex(d.cause!, /no-such-host\.invalid/)
  t.deepEqual(d.layers.map((l) => l.layer), ['dns'])
})

test('mqtt_test_connection skips the loopback publish in read-only mode', async (t) => {
  const b = await startAedes()
  const s = await server({ MQTT_MCP_READ_ONLY: 'true' })
  t.teardown(async () => {
    await s.close()
    await b.close()
  })
  const d = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: b.url })
  t.true(d.ok)
  t.like(layer(d, 'loopback'), { ok: true, skipped: true })
  t.regex(layer(d, 'loopback')!.detail, /read-only/)
})

// ---------------------------------------------------------------------------------------------------------------
// TLS

function which(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    try {
      accessSync(join(dir, name), fsConstants.X_OK)
      return join(dir, name)
    } catch {
      // not here
    }
  }
  return undefined
}

const openssl = which('openssl')
const tlsReady = openssl !== undefined && mosquittoPath() !== undefined
if (!tlsReady) console.error(`test-connection: TLS tests skipped (${openssl === undefined ? 'openssl' : 'mosquitto'} is not installed)`)

interface TlsBroker {
  readonly broker: TestBroker
  readonly tlsPort: number
  readonly ca: string
}

/** A CA and a server certificate for localhost / 127.0.0.1, and Mosquitto with a TLS listener using them. */
async function startTlsMosquitto(): Promise<TlsBroker & { close(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'mqtt-mcp-tls-'))
  const run = (...args: string[]) => execFileAsync(openssl!, args, { cwd: dir })
  await run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=bitsperity test CA')
  await run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost')
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n')
  await run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf')
  // Mosquitto started as root drops privileges before it reads these
  await chmod(dir, 0o755)
  for (const f of ['ca.crt', 'server.crt', 'server.key']) await chmod(join(dir, f), 0o644)
  const tlsPort = await freePort()
  const broker = await startMosquitto({
    extraConfig: [`listener ${tlsPort} 127.0.0.1`, `cafile ${join(dir, 'ca.crt')}`, `certfile ${join(dir, 'server.crt')}`, `keyfile ${join(dir, 'server.key')}`],
  })
  const ca = await readFile(join(dir, 'ca.crt'), 'utf8')
  return {
    broker,
    tlsPort,
    ca,
    close: async () => {
      await broker.close()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

const tlsTest = tlsReady ? test : test.skip

tlsTest('mqtt_test_connection diagnoses TLS: unknown CA, trusted CA, hostname mismatch, unverified, not TLS', async (t) => {
  const tls = await startTlsMosquitto()
  const s = await server()
  t.teardown(async () => {
    await s.close()
    await tls.close()
  })
  const url = `mqtts://127.0.0.1:${tls.tlsPort}`

  const unknown = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: url })
  t.false(unknown.ok)
  t.is(unknown.failed_layer, 'tls')
  t.regex(unknown.cause!, /^TLS unknown CA/)
  t.like(layer(unknown, 'tls')?.info, { check: 'unknown CA', subject: 'CN=localhost', issuer: 'CN=bitsperity test CA', chain_verified: false })
  t.is(layer(unknown, 'mqtt'), undefined)

  const good = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: url, tls: { ca: tls.ca } })
  t.true(good.ok, JSON.stringify(good.layers))
  t.deepEqual(good.layers.map((l) => l.layer), ['dns', 'tcp', 'tls', 'mqtt', 'loopback'])
  const info = layer(good, 'tls')!.info!
  t.regex(info['protocol'] as string, /^TLSv1\.[23]$/)
  t.is(typeof info['cipher'], 'string')
  t.like(info, { subject: 'CN=localhost', hostname_match: true, chain_verified: true, self_signed: false })
  t.true((info['days_left'] as number) >= 0)
  t.is(good.protocol_version, 5)
  t.is(typeof layer(good, 'mqtt')?.info?.['receive_maximum'], 'number')

  const mismatch = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: url, tls: { ca: tls.ca, servername: 'wrong.example.com' } })
  t.is(mismatch.failed_layer, 'tls')
  t.like(layer(mismatch, 'tls')?.info, { check: 'hostname mismatch', hostname_match: false })
  t.regex(mismatch.cause!, /hostname mismatch.*wrong\.example\.com/)

  const unverified = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: url, tls: { reject_unauthorized: false } })
  t.true(unverified.ok, JSON.stringify(unverified.layers))
  t.regex(layer(unverified, 'tls')!.detail, /Not verified \(reject_unauthorized false\)/)

  const plain = await ok<Diagnosis>(s.client, 'mqtt_test_connection', { connection_string: `mqtts://127.0.0.1:${tls.broker.port}`, tls: { ca: tls.ca } })
  t.is(plain.failed_layer, 'tls')
  t.like(layer(plain, 'tls')?.info, { check: 'not TLS' })
  t.regex(plain.cause!, /plain MQTT/)
})
