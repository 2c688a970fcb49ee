/**
 * mqtt_test_connection: diagnoses a broker without keeping a session. Walks DNS → TCP → TLS → MQTT CONNACK →
 * loopback publish/subscribe, timing each layer, and names the first layer that failed with its likely
 * cause. The MQTT layers go through the connection source (the only place that knows mqtt.js); the probe
 * connection is closed in every case. A failed diagnosis is the answer, not an error.
 */
import { randomBytes } from 'node:crypto'
import { lookup } from 'node:dns/promises'
import { connect as netConnect, isIP } from 'node:net'
import { performance } from 'node:perf_hooks'
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { defaultIfEmpty, filter, firstValueFrom, from, fromEvent, map, merge, Observable, of, race, take, takeUntil, timer, type Subscription } from 'rxjs'
import * as err from '../errors.js'
import type { AppError } from '../errors.js'
import { described, object, optional } from '../mcp/codec.js'
import { tlsProblem } from '../mqtt/reason-codes.js'
import { formatBrokerUrl, type BrokerUrl } from '../mqtt/url.js'
import type { SessionSpec } from '../sessions/session.js'
import { connectLazily } from '../streams/sources/lazy-connection.js'
import type { Link } from '../streams/types.js'
import { nullableString } from './common.js'
import { connectProps, toSessionSpec } from './connect-options.js'
import { checkPublishAllowed } from './publish-policy.js'
import { defineTool, type ToolContext } from './tool.js'

const input = object(connectProps, 'mqtt_test_connection')

type LayerName = 'dns' | 'tcp' | 'tls' | 'mqtt' | 'loopback'

const layerCodec = object({
  layer: t.keyof({ dns: null, tcp: null, tls: null, mqtt: null, loopback: null }),
  ok: t.boolean,
  skipped: optional(described(t.boolean, 'True when the layer did not apply (an IP address needs no DNS; read-only mode skips the loopback).')),
  ms: described(t.number, 'Time the layer took, in milliseconds.'),
  detail: t.string,
  info: optional(described(t.UnknownRecord, 'Structured facts of the layer: addresses, certificate fields, CONNACK properties.')),
})

const output = object({
  ok: t.boolean,
  broker: object({ url: t.string, host: t.string, port: t.number, transport: t.string }),
  layers: t.array(layerCodec),
  failed_layer: t.union([t.keyof({ dns: null, tcp: null, tls: null, mqtt: null, loopback: null }), t.null]),
  cause: nullableString,
  hint: nullableString,
  protocol_version: t.union([t.number, t.null]),
})

interface Layer {
  layer: LayerName
  ok: boolean
  skipped?: boolean
  ms: number
  detail: string
  info?: Record<string, unknown>
}

/** A layer's outcome: the layer and, when it failed, the likely cause and what to do. */
interface Step {
  readonly layer: Layer
  readonly cause?: string
  readonly hint?: string
}

const LOOPBACK_TIMEOUT_MS = 3000
const ms = (since: number): number => Math.round((performance.now() - since) * 10) / 10
const aborted$ = (signal: AbortSignal): Observable<unknown> => (signal.aborted ? of(true) : fromEvent(signal, 'abort'))
const codeOf = (e: unknown): string => (typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : '')

/** Resolves `work` or gives `onTimeout()` after `timeoutMs`, or `onAbort()` when the call is cancelled; the loser is torn down. */
function bounded<A>(work: Observable<A>, timeoutMs: number, ctx: ToolContext, onTimeout: () => A, onAbort: () => A): Promise<A> {
  return firstValueFrom(race(work, timer(timeoutMs, ctx.scheduler).pipe(map(onTimeout)), aborted$(ctx.signal).pipe(map(onAbort))))
}

// -------------------------------------------------------------------------------------
// layers
// -------------------------------------------------------------------------------------

async function probeDns(host: string, timeoutMs: number, ctx: ToolContext): Promise<Step> {
  if (isIP(host) !== 0) return { layer: { layer: 'dns', ok: true, skipped: true, ms: 0, detail: `skipped: ${host} is an IP address`, info: { addresses: [host] } } }
  const t0 = performance.now()
  type R = { addresses: string[] } | { error: string } | { timeout: true } | { cancelled: true }
  const r = await bounded<R>(
    from(lookup(host, { all: true, verbatim: true }).then((as): R => ({ addresses: as.map((a) => a.address) }), (e: unknown): R => ({ error: codeOf(e) || String(e) }))),
    timeoutMs,
    ctx,
    () => ({ timeout: true }),
    () => ({ cancelled: true }),
  )
  const took = ms(t0)
  if ('addresses' in r) return { layer: { layer: 'dns', ok: true, ms: took, detail: `${host} resolves to ${r.addresses.join(', ')}`, info: { addresses: r.addresses } } }
  const code = 'error' in r ? r.error : 'timeout' in r ? 'timeout' : 'cancelled'
  const cause =
    code === 'ENOTFOUND' || code === 'ENODATA'
      ? `DNS: the host name ${host} does not resolve (${code}).`
      : code === 'EAI_AGAIN'
        ? `DNS: no name server answered for ${host} (EAI_AGAIN); the network or DNS settings may be down.`
        : code === 'timeout'
          ? `DNS: looking up ${host} took longer than ${timeoutMs / 1000} s.`
          : `DNS: looking up ${host} failed (${code}).`
  return {
    layer: { layer: 'dns', ok: false, ms: took, detail: cause },
    cause,
    hint: 'Check the host name for typos, use an IP address, or check the DNS settings of the machine this server runs on.',
  }
}

async function probeTcp(host: string, port: number, timeoutMs: number, ctx: ToolContext): Promise<Step> {
  const t0 = performance.now()
  type R = { remote: string } | { error: string; message: string } | { timeout: true } | { cancelled: true }
  const attempt = new Observable<R>((subscriber) => {
    // Node tries every address of a name in turn (autoSelectFamily), as the MQTT client will
    const socket = netConnect({ host, port })
    socket.once('connect', () => {
      subscriber.next({ remote: `${socket.remoteAddress ?? host}:${socket.remotePort ?? port}` })
      subscriber.complete()
    })
    socket.once('error', (e) => {
      subscriber.next({ error: codeOf(e), message: e.message })
      subscriber.complete()
    })
    return () => {
      socket.removeAllListeners()
      socket.on('error', () => undefined)
      socket.destroy()
    }
  })
  const r = await bounded<R>(attempt, timeoutMs, ctx, () => ({ timeout: true }), () => ({ cancelled: true }))
  const took = ms(t0)
  const where = `${host}:${port}`
  if ('remote' in r) return { layer: { layer: 'tcp', ok: true, ms: took, detail: `connected to ${r.remote}`, info: { remote: r.remote } } }
  const code = 'error' in r ? r.error : 'timeout' in r ? 'timeout' : 'cancelled'
  const cause =
    code === 'ECONNREFUSED'
      ? `TCP connection refused: nothing listens on ${where}; check host and port and that the broker is running.`
      : code === 'timeout' || code === 'ETIMEDOUT'
        ? `TCP connect to ${where} got no answer within ${timeoutMs / 1000} s: a firewall may drop the packets, or the host is down.`
        : code === 'EHOSTUNREACH' || code === 'ENETUNREACH'
          ? `TCP: ${where} is not reachable from here (${code}); check the network route, VPN or firewall.`
          : `TCP connect to ${where} failed: ${'message' in r ? r.message : code}.`
  return {
    layer: { layer: 'tcp', ok: false, ms: took, detail: cause },
    cause,
    hint: 'Default ports: mqtt 1883, mqtts 8883, ws 80, wss 443; the broker may listen on another port or only on localhost.',
  }
}

const UNKNOWN_CA = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT'])

/** Names the TLS check an OpenSSL verification code stands for. */
function tlsCheck(code: string): string {
  if (UNKNOWN_CA.has(code)) return 'unknown CA'
  if (code === 'CERT_HAS_EXPIRED') return 'expired'
  if (code === 'CERT_NOT_YET_VALID') return 'not yet valid'
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'hostname mismatch'
  return code
}

const dn = (d: PeerCertificate['subject'] | undefined): string =>
  d === undefined ? '' : Object.entries(d).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ')

async function probeTls(spec: SessionSpec, timeoutMs: number, ctx: ToolContext): Promise<Step> {
  const { host, port } = spec.url
  const tls = spec.tls ?? {}
  const verify = tls.rejectUnauthorized ?? true
  // SNI cannot carry an IP address
  const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined)
  const identity = tls.servername ?? host
  const t0 = performance.now()
  type R = { socket: TLSSocket } | { error: string; message: string } | { local: string } | { timeout: true } | { cancelled: true }
  let opened: TLSSocket | undefined
  const attempt = new Observable<R>((subscriber) => {
    let socket: TLSSocket
    try {
      // never rejected here: we verify ourselves, so the result can say which check fails and show the certificate
      socket = tlsConnect({
        host,
        port,
        ...(servername !== undefined ? { servername } : {}),
        ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
        ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
        ...(tls.key !== undefined ? { key: tls.key } : {}),
        ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
        ...(tls.alpn !== undefined ? { ALPNProtocols: [...tls.alpn] } : {}),
        rejectUnauthorized: false,
      })
    } catch (e) {
      // thrown before any socket exists: our own certificate or key cannot be used (e.g. a wrong tls.passphrase)
      const problem = e instanceof Error ? tlsProblem(e) : undefined
      subscriber.next({ local: problem ?? (e instanceof Error ? e.message : String(e)) })
      subscriber.complete()
      return undefined
    }
    opened = socket
    socket.once('secureConnect', () => {
      subscriber.next({ socket })
      subscriber.complete()
    })
    socket.once('error', (e) => {
      subscriber.next({ error: codeOf(e), message: e.message })
      subscriber.complete()
    })
    return () => {
      socket.removeAllListeners('secureConnect')
      socket.on('error', () => undefined)
    }
  })
  try {
    const r = await bounded<R>(attempt, timeoutMs, ctx, () => ({ timeout: true }), () => ({ cancelled: true }))
    const took = ms(t0)
    if ('local' in r) {
      const cause = `TLS: the client certificate or key cannot be used: ${r.local}.`
      return {
        layer: { layer: 'tls', ok: false, ms: took, detail: cause, info: { check: r.local.split(':')[0] ?? r.local } },
        cause,
        hint: 'Check tls.cert and tls.key (PEM text or file paths of a matching pair) and tls.passphrase for an encrypted key.',
      }
    }
    if (!('socket' in r)) {
      const code = 'error' in r ? r.error : 'timeout' in r ? 'timeout' : 'cancelled'
      const message = 'message' in r ? r.message : code
      const notTls = code === 'ECONNRESET' || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|before secure TLS connection/i.test(message)
      const clientCert = /certificate required|bad certificate|handshake failure|unknown ca/i.test(message)
      const cause = clientCert
        ? `TLS handshake refused by the broker (${message}): it probably requires a client certificate it trusts.`
        : notTls
          ? `TLS: ${host}:${port} does not answer a TLS handshake (${code || message}); the port probably speaks plain MQTT (use mqtt:// or ws://) or is not TLS at all.`
          : code === 'timeout'
            ? `TLS: no handshake within ${timeoutMs / 1000} s from ${host}:${port}.`
            : `TLS handshake with ${host}:${port} failed: ${message}.`
      return {
        layer: { layer: 'tls', ok: false, ms: took, detail: cause, info: { check: clientCert ? 'client certificate' : notTls ? 'not TLS' : code } },
        cause,
        hint: clientCert ? 'Pass tls.cert and tls.key of a client certificate the broker accepts.' : 'Check the port and scheme: mqtts 8883 and wss 443 by default; mqtt:// for plain TCP.',
      }
    }
    const socket = r.socket
    const cert = socket.getPeerCertificate()
    const hostnameError = cert.raw === undefined ? undefined : checkServerIdentity(identity, cert)
    const chainError = socket.authorized ? undefined : String(socket.authorizationError ?? 'unverified')
    // Node reports a hostname mismatch as the authorization error only when the chain verified
    const failedCode = chainError !== undefined && chainError !== 'ERR_TLS_CERT_ALTNAME_INVALID' ? chainError : hostnameError !== undefined ? 'ERR_TLS_CERT_ALTNAME_INVALID' : undefined
    const validTo = cert.valid_to === undefined ? undefined : new Date(cert.valid_to)
    const info: Record<string, unknown> = {
      protocol: socket.getProtocol(),
      cipher: socket.getCipher()?.name ?? null,
      ...(socket.alpnProtocol !== false && socket.alpnProtocol !== null ? { alpn: socket.alpnProtocol } : {}),
      subject: dn(cert.subject),
      issuer: dn(cert.issuer),
      subject_alt_names: cert.subjectaltname ?? null,
      valid_from: cert.valid_from === undefined ? null : new Date(cert.valid_from).toISOString(),
      valid_to: validTo?.toISOString() ?? null,
      days_left: validTo === undefined ? null : Math.floor((validTo.getTime() - Date.now()) / 86_400_000),
      self_signed: dn(cert.subject) === dn(cert.issuer),
      hostname: identity,
      hostname_match: hostnameError === undefined,
      chain_verified: socket.authorized,
      ...(failedCode !== undefined ? { check: tlsCheck(failedCode), code: failedCode } : {}),
    }
    const summary = `${String(info['protocol'])} ${String(info['cipher'])}; certificate ${String(info['subject'])} issued by ${String(info['issuer'])}, valid to ${String(info['valid_to'])}`
    if (failedCode === undefined) return { layer: { layer: 'tls', ok: true, ms: took, detail: summary, info } }
    const check = tlsCheck(failedCode)
    const why =
      check === 'unknown CA'
        ? `the broker certificate is ${info['self_signed'] === true ? 'self-signed' : `signed by ${String(info['issuer'])}`}, a CA this client does not trust (${failedCode})`
        : check === 'expired'
          ? `the broker certificate expired on ${String(info['valid_to'])}`
          : check === 'not yet valid'
            ? `the broker certificate is valid only from ${String(info['valid_from'])}`
            : check === 'hostname mismatch'
              ? `the certificate is for ${String(info['subject_alt_names'] ?? info['subject'])}, not ${identity}`
              : `verification failed (${failedCode})`
    if (!verify) {
      return { layer: { layer: 'tls', ok: true, ms: took, detail: `${summary}. Not verified (reject_unauthorized false): ${why}.`, info } }
    }
    const cause = `TLS ${check}: ${why}.`
    const hint =
      check === 'unknown CA'
        ? 'Pass the CA certificate that signed the broker certificate in tls.ca (file path or PEM).'
        : check === 'hostname mismatch'
          ? 'Connect with a host name the certificate lists, or set tls.servername to one of them.'
          : check === 'expired' || check === 'not yet valid'
            ? 'Ask the broker operator to renew the certificate, or check this machine\'s clock.'
            : 'Check the TLS settings (tls.ca, tls.servername) against the broker certificate.'
    return { layer: { layer: 'tls', ok: false, ms: took, detail: `${summary}. ${cause}`, info }, cause, hint }
  } finally {
    opened?.destroy()
  }
}

/** Opens the probe connection; on success the caller owns `link` and `close`. */
async function probeMqtt(spec: SessionSpec, ctx: ToolContext): Promise<{ step: Step; link?: Link; close: () => Promise<void> }> {
  const t0 = performance.now()
  let subscription: Subscription | undefined
  let link: Link | undefined
  const close = async (): Promise<void> => {
    const l = link
    link = undefined
    // DISCONNECT first (bounded inside), then the source's teardown ends the client whatever happened
    if (l !== undefined) await l.disconnect().catch(() => undefined)
    subscription?.unsubscribe()
  }
  const connected = new Promise<E.Either<AppError, Link>>((resolve) => {
    subscription = connectLazily(
      {
        url: spec.url,
        ...(spec.username !== undefined ? { username: spec.username } : {}),
        ...(spec.password !== undefined ? { password: spec.password } : {}),
        clientId: spec.clientId,
        protocolVersion: spec.protocolVersion,
        keepaliveSeconds: spec.keepaliveSeconds,
        clean: spec.clean,
        connectTimeoutMs: spec.connectTimeoutMs,
        ...(spec.tls !== undefined ? { tls: spec.tls } : {}),
      },
      ctx.scheduler,
    ).subscribe({
      next: (l) => {
        link = l
        resolve(E.right(l))
      },
      error: (e: unknown) => resolve(E.left(err.fromUnknown(e))),
      complete: () => resolve(E.left(err.connectionLost({ message: 'The broker closed the connection right after CONNACK.' }))),
    })
  })
  const r = await firstValueFrom(race(from(connected), aborted$(ctx.signal).pipe(map(() => E.left(err.cancelled({ message: 'The call was cancelled.' }))))))
  const took = ms(t0)
  if (E.isLeft(r)) {
    await close()
    const e = r.left
    const body = err.toErrorBody(e).error
    // MQTT 3.1.1 §3.1.2.9: a password needs a username; brokers answer one without it by closing the socket
    const lonePassword = spec.password !== undefined && spec.username === undefined && e._tag === 'BrokerUnreachable'
    const cause = lonePassword
      ? `MQTT: ${e.message} A password was given without a username, which MQTT 3.1.1 does not allow; give the username too.`
      : e._tag === 'ConnectTimeout' && e.phase === 'connack'
        ? `MQTT: ${e.message} The port accepts TCP but does not answer CONNECT like an MQTT broker (wrong port, plain MQTT spoken to a TLS port, or a wrong WebSocket path).`
        : `MQTT: ${e.message}`
    return {
      step: { layer: { layer: 'mqtt', ok: false, ms: took, detail: cause, info: { code: body['code'] } }, cause, hint: String(body['hint'] ?? '') },
      close,
    }
  }
  const c = r.right.connack
  const fellBack = spec.protocolVersion === 'auto' && c.protocolVersion !== 5
  const info: Record<string, unknown> = {
    reason: 'Success',
    reason_code: 0,
    protocol_version: c.protocolVersion,
    session_present: c.sessionPresent,
    ...(c.serverKeepalive !== undefined ? { server_keepalive_seconds: c.serverKeepalive } : {}),
    ...(c.maximumPacketSize !== undefined ? { maximum_packet_size: c.maximumPacketSize } : {}),
    ...(c.receiveMaximum !== undefined ? { receive_maximum: c.receiveMaximum } : {}),
    ...(c.maximumQoS !== undefined ? { maximum_qos: c.maximumQoS } : {}),
    ...(c.retainAvailable !== undefined ? { retain_available: c.retainAvailable } : {}),
    ...(c.assignedClientId !== undefined ? { assigned_client_id: c.assignedClientId } : {}),
    ...(fellBack ? { fallback: 'MQTT 5 was refused; connected with 3.1.1' } : {}),
  }
  const extras = [
    c.serverKeepalive !== undefined ? `server keepalive ${c.serverKeepalive} s` : undefined,
    c.maximumPacketSize !== undefined ? `maximum packet size ${c.maximumPacketSize}` : undefined,
    c.receiveMaximum !== undefined ? `receive maximum ${c.receiveMaximum}` : undefined,
    c.maximumQoS !== undefined ? `maximum QoS ${c.maximumQoS}` : undefined,
  ].filter((x) => x !== undefined)
  const version = c.protocolVersion === 5 ? 'MQTT 5' : c.protocolVersion === 4 ? 'MQTT 3.1.1' : 'MQTT 3.1'
  const detail = `CONNACK Success: ${version}${fellBack ? ' (the broker refused MQTT 5)' : ''}, session present ${c.sessionPresent}${extras.length > 0 ? `, ${extras.join(', ')}` : ''}`
  return { step: { layer: { layer: 'mqtt', ok: true, ms: took, detail, info } }, link: r.right, close }
}

async function probeLoopback(link: Link, ctx: ToolContext): Promise<Step> {
  const topic = `bitsperity-mqtt-mcp/loopback/${randomBytes(8).toString('hex')}`
  const allowed = checkPublishAllowed(ctx.config, topic)
  if (E.isLeft(allowed)) {
    return { layer: { layer: 'loopback', ok: true, skipped: true, ms: 0, detail: `skipped: this server may not publish to ${topic} (${allowed.left.message})` } }
  }
  const t0 = performance.now()
  const fail = (check: string, cause: string, hint: string): Step => ({ layer: { layer: 'loopback', ok: false, ms: ms(t0), detail: cause, info: { topic, check } }, cause, hint })
  const timeoutError = (what: string) => () => E.left<AppError, never>(err.publishFailed({ message: `no ${what} within ${LOOPBACK_TIMEOUT_MS / 1000} s` }))
  const cancelled = () => E.left<AppError, never>(err.cancelled({ message: 'The call was cancelled.' }))
  // listening before SUBSCRIBE and PUBLISH go out, so the echo cannot slip past
  const echo = firstValueFrom(
    link.messages$.pipe(
      filter((m) => m.topic === topic),
      take(1),
      map(() => true),
      takeUntil(merge(timer(LOOPBACK_TIMEOUT_MS, ctx.scheduler), aborted$(ctx.signal))),
      defaultIfEmpty(false),
    ),
  )
  const granted = await bounded(
    link.subscribe(topic, 1).pipe(map((q) => E.right<AppError, number>(q))),
    LOOPBACK_TIMEOUT_MS,
    ctx,
    timeoutError('SUBACK'),
    cancelled,
  ).catch((e: unknown) => E.left<AppError, number>(err.fromUnknown(e)))
  if (E.isLeft(granted)) {
    return fail('subscribe', `Loopback: the broker did not grant the subscription to ${topic} (${granted.left.message}).`, 'The connection works, but an ACL may forbid this client to subscribe; check the broker ACL for this user.')
  }
  const published = await bounded(
    link.publish(topic, Buffer.from('bitsperity-mqtt-mcp loopback probe', 'utf8'), { qos: 1, retain: false }).pipe(map((a) => E.right<AppError, unknown>(a))),
    LOOPBACK_TIMEOUT_MS,
    ctx,
    timeoutError('PUBACK'),
    cancelled,
  ).catch((e: unknown) => E.left<AppError, unknown>(err.fromUnknown(e)))
  try {
    if (E.isLeft(published)) {
      return fail('publish', `Loopback: the broker did not accept a QoS 1 publish to ${topic} (${published.left.message}).`, 'The connection works, but an ACL may forbid this client to publish; check the broker ACL for this user.')
    }
    if (!(await echo)) {
      return fail(
        'delivery',
        `Loopback: the broker acknowledged the publish to ${topic} but did not deliver it back within ${LOOPBACK_TIMEOUT_MS / 1000} s.`,
        'An ACL may silently drop publishes or deliveries on this topic (Mosquitto does), or the broker is overloaded.',
      )
    }
    return { layer: { layer: 'loopback', ok: true, ms: ms(t0), detail: `published at QoS 1 to ${topic} and received it back (granted QoS ${granted.right})`, info: { topic, granted_qos: granted.right } } }
  } finally {
    // a persistent session (clean_session false) would otherwise keep the probe subscription on the broker
    await bounded(link.unsubscribe(topic).pipe(defaultIfEmpty(undefined)), 1000, ctx, () => undefined, () => undefined).catch(() => undefined)
  }
}

// -------------------------------------------------------------------------------------
// the tool
// -------------------------------------------------------------------------------------

const brokerOf = (url: BrokerUrl): { url: string; host: string; port: number; transport: string } => ({
  url: formatBrokerUrl({ ...url, clientId: undefined }),
  host: url.host,
  port: url.port,
  transport: url.transport,
})

export const testConnection = defineTool({
  name: 'mqtt_test_connection',
  title: 'Diagnose an MQTT broker connection',
  description: [
    'Diagnoses a broker without opening a session: takes the same connection_string and options as mqtt_establish_connection and walks the layers, timing each: dns (addresses; skipped for IP literals), tcp connect, tls for mqtts/wss (protocol, cipher, certificate subject, issuer, expiry, hostname match; names the failed check: unknown CA, expired, hostname mismatch, not TLS),',
    'mqtt CONNACK (reason, negotiated version, session present, and for MQTT 5 server keepalive, maximum packet size, receive maximum), then a loopback: subscribe and publish one QoS 1 message on a private topic bitsperity-mqtt-mcp/loopback/<random> and wait up to 3 s for it (skipped in read-only mode).',
    'Returns ok, layers [{ layer, ok, ms, detail, info }], failed_layer (null when ok), cause (the likely cause in plain words) and hint. A failed diagnosis is a normal result, not an error. The probe connection is always closed; no password appears in the result.',
  ].join(' '),
  input,
  output,
  annotations: { readOnlyHint: true, openWorldHint: true },
  run: async (args, ctx) => {
    const parsed = await toSessionSpec(args)
    if (E.isLeft(parsed)) return parsed
    const spec = parsed.right
    const { host, port, transport } = spec.url
    const steps: Step[] = []
    let protocolVersion: number | null = null
    const finish = () => {
      const failed = steps.find((s) => !s.layer.ok)
      return E.right({
        ok: failed === undefined,
        broker: brokerOf(spec.url),
        layers: steps.map((s) => s.layer),
        failed_layer: failed?.layer.layer ?? null,
        cause: failed?.cause ?? null,
        hint: failed?.hint ?? null,
        protocol_version: protocolVersion,
      })
    }
    const cancelledError = () => E.left(err.cancelled({ message: 'The diagnosis was cancelled.' }))
    const run = async (step: () => Promise<Step>): Promise<boolean> => {
      const s = await step()
      steps.push(s)
      return s.layer.ok
    }

    if (!(await run(() => probeDns(host, spec.connectTimeoutMs, ctx)))) return finish()
    if (ctx.signal.aborted) return cancelledError()
    if (!(await run(() => probeTcp(host, port, spec.connectTimeoutMs, ctx)))) return finish()
    if (transport === 'mqtts' || transport === 'wss') {
      if (ctx.signal.aborted) return cancelledError()
      if (!(await run(() => probeTls(spec, spec.connectTimeoutMs, ctx)))) return finish()
    }
    if (ctx.signal.aborted) return cancelledError()
    const mqtt = await probeMqtt(spec, ctx)
    try {
      steps.push(mqtt.step)
      if (mqtt.link === undefined) return ctx.signal.aborted ? cancelledError() : finish()
      protocolVersion = mqtt.link.connack.protocolVersion
      await run(() => probeLoopback(mqtt.link!, ctx))
      return ctx.signal.aborted ? cancelledError() : finish()
    } finally {
      await mqtt.close()
    }
  },
})
