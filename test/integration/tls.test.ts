/**
 * TLS end to end over real stdio (SDK Client → `node .build/src/main.js`) against Mosquitto with four TLS
 * listeners made from a throw-away PKI (test/helpers/tls.ts):
 *   good     server certificate for localhost / 127.0.0.1 signed by the test CA
 *   mutual   the same, plus `require_certificate true` (client certificates signed by the test CA)
 *   expired  a certificate that expired before the test started
 *   other    a certificate only for other.example
 * It proves through mqtt_establish_connection and mqtt_test_connection: a trusted CA connects (file path and PEM
 * text), an unknown CA / expired certificate / hostname mismatch fail with TLS_FAILED naming the check, the mutual
 * listener refuses a client without a certificate and accepts one with tls.cert + tls.key (also an encrypted key
 * with tls.passphrase), and the passphrase appears in no result and no line of the server's stderr.
 */
import { readFile } from 'node:fs/promises'
import test, { type ExecutionContext } from 'ava'
import { freePort, mosquittoPath, startMosquitto, type TestBroker } from '../helpers/brokers.js'
import { call, fails, ok, startStdioServer, textOf, type StdioServer } from '../helpers/mcp.js'
import { createPki, opensslPath, tlsListener, type CertFiles, type Pki } from '../helpers/tls.js'

interface Session {
  session_id: string
  broker: { url: string; host: string; port: number; transport: string }
  protocol_version: number
}

interface Layer {
  layer: string
  ok: boolean
  ms: number
  detail: string
  info?: Record<string, unknown>
}

interface Diagnosis {
  ok: boolean
  layers: Layer[]
  failed_layer: string | null
  cause: string | null
  hint: string | null
}

const PASSPHRASE = 'canary-Passphrase-7f3e91'

const missing = opensslPath() === undefined ? 'openssl' : mosquittoPath() === undefined ? 'mosquitto' : undefined
if (missing !== undefined) console.error(`tls.test: skipped, ${missing} is not installed`)
const tlsTest = missing === undefined ? test : test.skip

interface World {
  pki: Pki
  broker: TestBroker
  server: StdioServer
  ports: { good: number; mutual: number; expired: number; other: number }
  client: CertFiles
  encryptedClient: CertFiles
  strangerCa: CertFiles
}

let world: World | undefined

test.before(async () => {
  if (missing !== undefined) return
  const pki = await createPki()
  const [server, expired, other, client, encryptedClient, strangerCa] = await Promise.all([
    pki.issue('server', { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'] }),
    pki.issue('expired', { cn: 'localhost', san: ['DNS:localhost', 'IP:127.0.0.1'], days: -1 }),
    pki.issue('other', { cn: 'other.example', san: ['DNS:other.example'] }),
    pki.issue('client', { cn: 'test-client', client: true }),
    pki.issue('client-encrypted', { cn: 'test-client-encrypted', client: true, passphrase: PASSPHRASE }),
    pki.otherCa('stranger-ca', 'stranger CA'),
  ])
  const ports = { good: await freePort(), mutual: await freePort(), expired: await freePort(), other: await freePort() }
  const ca = pki.ca.cert
  const broker = await startMosquitto({
    extraConfig: [
      ...tlsListener(ports.good, { ca, ...server }),
      ...tlsListener(ports.mutual, { ca, ...server }, { requireClientCert: true }),
      ...tlsListener(ports.expired, { ca, ...expired }),
      ...tlsListener(ports.other, { ca, ...other }),
    ],
  })
  // the tests run concurrently and keep up to 6 sessions open at once (default limit 5)
  const stdio = await startStdioServer([], { MQTT_MCP_MAX_SESSIONS: '20' })
  world = { pki, broker, server: stdio, ports, client, encryptedClient, strangerCa }
})

test.after.always(async () => {
  await world?.server.close()
  await world?.broker.close()
  await world?.pki.close()
})

const w = (): World => {
  if (world === undefined) throw new Error('no TLS world')
  return world
}

async function connected(t: ExecutionContext, args: Record<string, unknown>): Promise<Session> {
  const s = await ok<Session>(w().server.client, 'mqtt_establish_connection', args)
  t.teardown(() => ok(w().server.client, 'mqtt_close_connection', { session_id: s.session_id }).then(() => undefined))
  return s
}

tlsTest('a trusted CA connects, given as a file path and as PEM text', async (t) => {
  const { ports, pki } = w()
  const url = `mqtts://127.0.0.1:${ports.good}`
  const byPath = await connected(t, { connection_string: url, tls: { ca: pki.ca.cert } })
  t.like(byPath.broker, { host: '127.0.0.1', port: ports.good, transport: 'mqtts' })
  t.is(byPath.protocol_version, 5)
  const byPem = await connected(t, { connection_string: `mqtts://localhost:${ports.good}`, tls: { ca: pki.caPem } })
  t.like(byPem.broker, { host: 'localhost', port: ports.good })
  // the session works: a retained message goes out and comes back
  const pub = await ok<{ published: boolean }>(w().server.client, 'mqtt_publish_message', { session_id: byPem.session_id, topic: 'tls/hello', payload: 'hi', qos: 1 })
  t.true(pub.published)
})

tlsTest('an unknown CA fails with TLS_FAILED saying unknown CA, and leaves no session behind', async (t) => {
  const { ports, strangerCa } = w()
  const url = `mqtts://127.0.0.1:${ports.good}`
  const none = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: url, name: 'unknown CA (none given)' })
  const wrong = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: url, name: 'unknown CA (stranger)', tls: { ca: strangerCa.cert } })
  for (const e of [none, wrong]) {
    t.like(e, { code: 'TLS_FAILED', category: 'connection', retryable: false })
    t.regex(e.message, new RegExp(`^TLS handshake with 127\\.0\\.0\\.1:${ports.good} failed: unknown CA`))
    t.regex(e.hint, /tls\.ca/)
  }
  const sessions = await ok<{ sessions: Array<{ name: string | null }> }>(w().server.client, 'mqtt_list_active_connections')
  t.false(sessions.sessions.some((s) => s.name?.startsWith('unknown CA') === true), 'a failed connect leaves no session')
})

tlsTest('an expired broker certificate and a hostname mismatch (servername or host) are named', async (t) => {
  const { ports, pki } = w()
  const expired = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: `mqtts://127.0.0.1:${ports.expired}`, tls: { ca: pki.ca.cert } })
  t.is(expired.code, 'TLS_FAILED')
  t.regex(expired.message, /failed: expired: the broker certificate has expired/)
  const sni = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: `mqtts://127.0.0.1:${ports.good}`, tls: { ca: pki.ca.cert, servername: 'wrong.example' } })
  t.is(sni.code, 'TLS_FAILED')
  t.regex(sni.message, /failed: hostname mismatch/)
  // a certificate only for other.example, reached as localhost
  const host = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: `mqtts://localhost:${ports.other}`, tls: { ca: pki.ca.cert } })
  t.is(host.code, 'TLS_FAILED')
  t.regex(host.message, new RegExp(`^TLS handshake with localhost:${ports.other} failed: hostname mismatch`))
  // the same certificate is fine when the name it carries is the one checked
  const named = await connected(t, { connection_string: `mqtts://localhost:${ports.other}`, tls: { ca: pki.ca.cert, servername: 'other.example' } })
  t.is(named.broker.port, ports.other)
})

tlsTest('the client-certificate listener refuses a client without a trusted certificate and accepts tls.cert + tls.key', async (t) => {
  const { ports, pki, client, strangerCa } = w()
  const url = `mqtts://127.0.0.1:${ports.mutual}`
  const without = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: url, tls: { ca: pki.ca.cert }, connect_timeout_seconds: 5 })
  t.is(without.code, 'TLS_FAILED')
  t.regex(without.message, new RegExp(`^TLS handshake with 127\\.0\\.0\\.1:${ports.mutual} failed: client certificate required: .*tls\\.cert and tls\\.key`))
  t.false(without.message.includes('\n'), 'no raw OpenSSL error text')
  // a self-signed client certificate the broker's CA did not sign
  const untrusted = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: url, tls: { ca: pki.ca.cert, cert: strangerCa.cert, key: strangerCa.key }, connect_timeout_seconds: 5 })
  t.is(untrusted.code, 'TLS_FAILED')
  t.regex(untrusted.message, /failed: client certificate refused/)
  const s = await connected(t, { connection_string: url, tls: { ca: pki.ca.cert, cert: client.cert, key: client.key } })
  t.like(s.broker, { port: ports.mutual, transport: 'mqtts' })
  // PEM text works for the client certificate and key too
  const [certPem, keyPem] = await Promise.all([readFile(client.cert, 'utf8'), readFile(client.key, 'utf8')])
  const pem = await connected(t, { connection_string: url, tls: { ca: pki.caPem, cert: certPem, key: keyPem } })
  const pub = await ok<{ published: boolean }>(w().server.client, 'mqtt_publish_message', { session_id: pem.session_id, topic: 'tls/mutual', payload: 'hi', qos: 1 })
  t.true(pub.published)
})

tlsTest('mqtt_test_connection on the client-certificate listener names the failing layer with and without a client certificate', async (t) => {
  const { ports, pki, client } = w()
  const url = `mqtts://127.0.0.1:${ports.mutual}`
  const without = await ok<Diagnosis>(w().server.client, 'mqtt_test_connection', { connection_string: url, tls: { ca: pki.ca.cert } })
  t.false(without.ok)
  // TLS 1.3 finishes the handshake before the broker checks the certificate: its refusal arrives with the first
  // read, when CONNECT is sent. Either layer is honest; the cause must say what is missing.
  t.true(without.failed_layer === 'tls' || without.failed_layer === 'mqtt', String(without.failed_layer))
  t.regex(without.cause!, /client certificate required/)
  t.false(without.cause!.includes('\n'))
  t.regex(without.hint!, /client certificate/)
  const good = await ok<Diagnosis>(w().server.client, 'mqtt_test_connection', { connection_string: url, tls: { ca: pki.ca.cert, cert: client.cert, key: client.key } })
  t.true(good.ok, JSON.stringify(good.layers))
  t.deepEqual(good.layers.map((l) => [l.layer, l.ok]), [['dns', true], ['tcp', true], ['tls', true], ['mqtt', true], ['loopback', true]])
  t.is(good.failed_layer, null)
})

tlsTest('an encrypted client key works with tls.passphrase, a wrong one is named, and the passphrase is never shown', async (t) => {
  const { ports, pki, encryptedClient } = w()
  const url = `mqtts://127.0.0.1:${ports.mutual}`
  const texts: string[] = []
  const tlsArgs = { ca: pki.ca.cert, cert: encryptedClient.cert, key: encryptedClient.key }

  const opened = await call(w().server.client, 'mqtt_establish_connection', { connection_string: url, name: 'encrypted key', tls: { ...tlsArgs, passphrase: PASSPHRASE } })
  texts.push(textOf(opened))
  t.not(opened.isError, true, textOf(opened))
  const sessionId = (opened.structuredContent as unknown as Session).session_id
  t.teardown(() => ok(w().server.client, 'mqtt_close_connection', { session_id: sessionId }).then(() => undefined))
  const list = await call(w().server.client, 'mqtt_list_active_connections')
  texts.push(textOf(list))

  const wrong = await call(w().server.client, 'mqtt_establish_connection', { connection_string: url, tls: { ...tlsArgs, passphrase: `${PASSPHRASE}-wrong` } })
  texts.push(textOf(wrong))
  t.true(wrong.isError)
  const wrongError = (JSON.parse(textOf(wrong)) as { error: { code: string; message: string } }).error
  t.is(wrongError.code, 'TLS_FAILED')
  // a wrong passphrase usually fails the decryption; now and then it decrypts to garbage that does not parse
  t.regex(wrongError.message, /the private key could not be decrypted \(wrong or missing tls\.passphrase\)|wrong tls\.passphrase/)
  const missingPassphrase = await fails(w().server.client, 'mqtt_establish_connection', { connection_string: url, tls: tlsArgs })
  t.regex(missingPassphrase.message, /tls\.passphrase/)

  const diagnosed = await call(w().server.client, 'mqtt_test_connection', { connection_string: url, tls: { ...tlsArgs, passphrase: PASSPHRASE } })
  texts.push(textOf(diagnosed))
  t.true((diagnosed.structuredContent as unknown as Diagnosis).ok, textOf(diagnosed))
  const diagnosedWrong = await call(w().server.client, 'mqtt_test_connection', { connection_string: url, tls: { ...tlsArgs, passphrase: `${PASSPHRASE}-wrong` } })
  texts.push(textOf(diagnosedWrong))
  t.not(diagnosedWrong.isError, true, textOf(diagnosedWrong))
  const d = diagnosedWrong.structuredContent as unknown as Diagnosis
  t.false(d.ok)
  t.is(d.failed_layer, 'tls')
  t.regex(d.cause!, /passphrase/)

  for (const text of texts) t.false(text.includes(PASSPHRASE), text)
  t.true(w().server.stderr().length > 0, 'the server logs (debug) to stderr')
  t.false(w().server.stderr().includes(PASSPHRASE), 'no passphrase on stderr')
  t.false(w().server.stderr().includes('canary-Passphrase'), 'not even a part of it')
})
