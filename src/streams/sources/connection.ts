/**
 * mqtt.js wrapped once: a cold Observable that opens one connection, emits one Link on CONNACK, fails with a
 * tagged AppError when the connection cannot be made or is lost, and ends the client on teardown.
 * Reconnection is not mqtt.js's (reconnectPeriod 0): the session retries this source with retryBackoff.
 *
 *   connect(opts):  ---L------------#        L = Link on CONNACK, # = ConnectionLost
 *   refused:        ----#                    # = AuthenticationFailed | BrokerUnreachable | TlsFailed | …
 */
import mqtt from 'mqtt'
import type { IClientOptions, IConnackPacket, IPublishPacket, MqttClient, Packet } from 'mqtt'
import { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { asyncScheduler, catchError, defer, Observable, share, tap, throwError, type SchedulerLike } from 'rxjs'
import * as err from '../../errors.js'
import type { AppError } from '../../errors.js'
import { connackRefusal, isUnsupportedVersion, reasonName, socketError } from '../../mqtt/reason-codes.js'
import type { ConnackInfo, ConnectOptions, Link, Message, MessageProperties, ProtocolVersion, PublishAck, QoS } from '../types.js'

/** How long an MQTT 5 CONNECT may go unanswered before `auto` tries 3.1.1: some brokers refuse 5 by silence. */
export const SILENT_REFUSAL_MS = 3000

/**
 * How much incoming-message handling one stretch may do before the connection lets the event loop come round
 * (stdin, timers, the HTTP server). Real time, not the scheduler's: it shares the process's one loop.
 */
export interface Fairness {
  /** Budget of one slice, in ms of `now`. */
  readonly sliceMs: number
  /** A monotonic clock, in ms. */
  readonly now: () => number
  /** Calls `resume` once the event loop has had a turn. */
  readonly yieldTo: (resume: () => void) => void
}

/**
 * 5 ms slices on `performance.now()`, resumed by `setImmediate`: after poll (stdin, sockets), before the next timers.
 * Not `scheduler.schedule`: asyncScheduler's setInterval(0) would idle ≥ 1 ms per slice, and a virtual-time
 * scheduler would never resume the socket.
 */
export const DEFAULT_FAIRNESS: Fairness = {
  sliceMs: 5,
  now: () => performance.now(),
  yieldTo: (resume) => void setImmediate(resume),
}

/**
 * Opens one connection; emits its Link on CONNACK, errors with an AppError when refused or lost. Incoming messages
 * are handled in slices of `fairness.sliceMs` ms, with a turn of the event loop between slices.
 */
export function connect(opts: ConnectOptions, scheduler: SchedulerLike = asyncScheduler, fairness: Fairness = DEFAULT_FAIRNESS): Observable<Link> {
  return new Observable<Link>((subscriber) => {
    const { host, port } = opts.url
    let client: MqttClient
    try {
      client = mqtt.connect(href(opts), clientOptions(opts))
    } catch (e) {
      // thrown before any socket exists, e.g. by tls.createSecureContext for a key that does not decrypt
      subscriber.error(socketError(e as Error & { code?: string }, host, port))
      return undefined
    }
    sliceMessageHandling(client, fairness)
    let connected = false
    let connectSent = false
    let closing = false
    let firstError: AppError | undefined

    const timeout = scheduler.schedule(() => {
      subscriber.error(
        err.connectTimeout({
          message: connectSent
            ? `${host}:${port} accepted TCP but sent no CONNACK within ${opts.connectTimeoutMs} ms.`
            : `Could not open a connection to ${host}:${port} within ${opts.connectTimeoutMs} ms.`,
          timeoutMs: opts.connectTimeoutMs,
          phase: connectSent ? 'connack' : 'tcp',
        }),
      )
    }, opts.connectTimeoutMs)

    // mqtt.js writes CONNECT inside mqtt.connect(), before a 'packetsend' listener could see it; it goes out as
    // soon as the transport opens, which TCP and TLS sockets announce with 'connect'. A WebSocket stream does not
    // say: count CONNECT as sent, so that silence after it still reads as a refusal of the version.
    const transport: unknown = client.stream
    if (transport instanceof Socket) {
      transport.once('connect', () => {
        connectSent = true
      })
    } else connectSent = true
    const onConnect = (connack: IConnackPacket): void => {
      connected = true
      timeout.unsubscribe()
      subscriber.next(
        makeLink(client, connackInfo(connack, opts.protocolVersion), scheduler, () => {
          closing = true
        }),
      )
    }
    const onError = (e: Error & { code?: string | number }): void => {
      if (connected) return // the 'close' that follows reports the loss
      firstError ??=
        typeof e.code === 'number'
          ? connackRefusal(e.code, opts.protocolVersion, opts.username !== undefined || opts.password !== undefined)
          : socketError(e, host, port)
      // mqtt.js does not always close the stream after a CONNACK refusal
      subscriber.error(firstError)
    }
    const onClose = (): void => {
      if (closing) return subscriber.complete()
      subscriber.error(
        connected
          ? err.connectionLost({ message: `The connection to ${host}:${port} was lost.` })
          : (firstError ??
              err.brokerUnreachable({
                message: `${host}:${port} closed the connection before answering CONNECT.`,
                cause: connectSent ? 'closed before CONNACK' : 'closed',
              })),
      )
    }
    client.on('connect', onConnect)
    client.on('error', onError)
    client.on('close', onClose)

    return () => {
      timeout.unsubscribe()
      // only our own listeners: mqtt.js's own 'close' listener clears its CONNACK timer (removing it kept a
      // refused client's timer, and so the process, alive for connectTimeoutMs + 5 s)
      client.off('connect', onConnect)
      client.off('close', onClose)
      client.off('error', onError)
      // keep an error listener: a late socket error after teardown must not crash the process
      client.on('error', () => undefined)
      client.end(true)
    }
  })
}

/**
 * `connect` with protocol version negotiation: `auto` tries MQTT 5 and falls back to 3.1.1 when the broker
 * refuses 5 by reason code, by closing the socket, or by silence (RabbitMQ answers nothing).
 */
export function connectNegotiated(
  opts: Omit<ConnectOptions, 'protocolVersion'> & { readonly protocolVersion: ProtocolVersion | 'auto' },
  scheduler: SchedulerLike = asyncScheduler,
  fairness: Fairness = DEFAULT_FAIRNESS,
): Observable<Link> {
  if (opts.protocolVersion !== 'auto') return connect({ ...opts, protocolVersion: opts.protocolVersion }, scheduler, fairness)
  const v5 = connect({ ...opts, protocolVersion: 5, connectTimeoutMs: Math.min(opts.connectTimeoutMs, SILENT_REFUSAL_MS) }, scheduler, fairness)
  return defer(() => {
    // only a CONNECT that failed falls back: losing a connection made on 5 must not reconnect on 3.1.1
    let connected = false
    return v5.pipe(
      tap(() => {
        connected = true
      }),
      catchError((e: AppError) =>
        !connected && refusesVersion5(e) ? connect({ ...opts, protocolVersion: 4 }, scheduler, fairness) : throwError(() => e),
      ),
    )
  })
}

/** True when the failure of an MQTT 5 CONNECT suggests a 3.1.1-only broker. */
export function refusesVersion5(e: AppError): boolean {
  switch (e._tag) {
    case 'ConnectionRefused':
      return isUnsupportedVersion(e.reasonCode, 5) || e.reasonCode === 129 || e.reasonCode === 130
    case 'BrokerUnreachable':
      return e.cause === 'closed before CONNACK'
    case 'ConnectTimeout':
      return e.phase === 'connack'
    case 'ConnectionLost':
      return true
    default:
      return false
  }
}

// -------------------------------------------------------------------------------------
// internals
// -------------------------------------------------------------------------------------

function href(opts: ConnectOptions): string {
  const { transport, host, port, path } = opts.url
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  const isWs = transport === 'ws' || transport === 'wss'
  return `${transport}://${h}:${port}${isWs ? (path ?? '/mqtt') : ''}`
}

function clientOptions(opts: ConnectOptions): IClientOptions {
  const tls = opts.tls
  return {
    protocolVersion: opts.protocolVersion,
    clientId: opts.clientId,
    ...(opts.username !== undefined ? { username: opts.username } : {}),
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    keepalive: opts.keepaliveSeconds,
    clean: opts.clean,
    reconnectPeriod: 0,
    // our own timer answers first; this only keeps mqtt.js from giving up earlier
    connectTimeout: opts.connectTimeoutMs + 5000,
    resubscribe: false,
    // an offline QoS 0 publish must fail, not wait silently in a queue
    queueQoSZero: false,
    ...(tls !== undefined
      ? {
          ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
          ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
          ...(tls.key !== undefined ? { key: tls.key } : {}),
          ...(tls.passphrase !== undefined ? { passphrase: tls.passphrase } : {}),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
          ...(tls.alpn !== undefined ? { ALPNProtocols: [...tls.alpn] } : {}),
        }
      : {}),
  }
}

/**
 * Bounds the work per event-loop turn. mqtt.js parses a whole socket read and handles its packets in one
 * process.nextTick chain, and a reader that has fallen behind gets up to 32 × 64 KB per turn from libuv: thousands
 * of messages while a request on stdin waits. handleMessage is mqtt.js's back-pressure hook (the next packet waits
 * for its callback), so holding the callback past a slice holds the stream's write callback too: the pipe pauses
 * the socket, TCP fills, and the broker queues (or, at QoS 0 beyond its limits, drops, as for any slow subscriber).
 */
function sliceMessageHandling(client: MqttClient, fairness: Fairness): void {
  let sliceStart: number | undefined
  let unclocked = 0
  client.handleMessage = (_packet, done) => {
    // a clock read costs 0.2–0.3 µs on these VMs (~4 % of handling a small message): read it every few messages
    if (sliceStart !== undefined && ++unclocked < CLOCK_EVERY) return done()
    unclocked = 0
    const now = fairness.now()
    sliceStart ??= now
    if (now - sliceStart < fairness.sliceMs) return done()
    // a slice also ends after a quiet spell: at most one needless turn per slice when messages trickle in,
    // cheaper than marking every loop turn
    sliceStart = undefined
    fairness.yieldTo(() => done())
  }
}

/** Messages handled between clock reads: a 64 KB payload takes ~0.1 ms, so a slice overruns by ~1.6 ms at worst. */
const CLOCK_EVERY = 16

/**
 * The payload as bytes of its own. mqtt-packet slices a payload out of the socket read it arrived in without
 * copying (bl returns `buf.slice` for a range inside one buffer), so keeping one small message (pruning candidates,
 * the session's last message per topic) would keep its whole 64 KB read alive. A view that wastes more than its own
 * size and more than a pool slab is copied; copies under 4 KB come from Node's 8 KB pool.
 */
function ownBytes(b: Buffer): Buffer {
  return b.buffer.byteLength - b.byteLength > Math.max(b.byteLength, Buffer.poolSize) ? Buffer.from(b) : b
}

function connackInfo(p: IConnackPacket, version: ProtocolVersion): ConnackInfo {
  const props = p.properties
  return {
    sessionPresent: p.sessionPresent,
    protocolVersion: version,
    ...(props?.serverKeepAlive !== undefined ? { serverKeepalive: props.serverKeepAlive } : {}),
    ...(props?.maximumPacketSize !== undefined ? { maximumPacketSize: props.maximumPacketSize } : {}),
    ...(props?.receiveMaximum !== undefined ? { receiveMaximum: props.receiveMaximum } : {}),
    ...(props?.maximumQoS !== undefined ? { maximumQoS: props.maximumQoS as QoS } : {}),
    ...(props?.retainAvailable !== undefined ? { retainAvailable: props.retainAvailable } : {}),
    ...(props?.assignedClientIdentifier !== undefined ? { assignedClientId: props.assignedClientIdentifier } : {}),
  }
}

function messageProperties(p: IPublishPacket['properties']): MessageProperties | undefined {
  if (p === undefined) return undefined
  const out: { -readonly [K in keyof MessageProperties]: MessageProperties[K] } = {}
  if (p.contentType !== undefined) out.contentType = p.contentType
  if (p.userProperties !== undefined) out.userProperties = p.userProperties
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic
  if (p.correlationData !== undefined) out.correlationData = ownBytes(p.correlationData)
  if (p.messageExpiryInterval !== undefined) out.messageExpiryInterval = p.messageExpiryInterval
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator
  return Object.keys(out).length > 0 ? out : undefined
}

function makeLink(client: MqttClient, connack: ConnackInfo, scheduler: SchedulerLike, onClosing: () => void): Link {
  const version = connack.protocolVersion
  // PUBACK/PUBCOMP reason codes: mqtt.js hands the stored PUBLISH to the callback, not the ack
  const acks = new Map<number, { cmd: 'puback' | 'pubcomp'; reasonCode: number }>()
  client.on('packetreceive', (p: Packet) => {
    if ((p.cmd === 'puback' || p.cmd === 'pubcomp') && p.messageId !== undefined) {
      acks.set(p.messageId, { cmd: p.cmd, reasonCode: p.reasonCode ?? 0 })
    }
  })

  const messages$ = new Observable<Message>((subscriber) => {
    const onMessage = (topic: string, payload: Buffer, packet: IPublishPacket): void => {
      const properties = messageProperties(packet.properties)
      subscriber.next({
        topic,
        payload: ownBytes(payload),
        qos: packet.qos,
        retain: packet.retain,
        ...(properties !== undefined ? { properties } : {}),
        receivedAt: scheduler.now(),
      })
    }
    client.on('message', onMessage)
    return () => client.off('message', onMessage)
  }).pipe(share())

  return {
    connack,
    messages$,
    subscribe: (filter, qos) =>
      new Observable<QoS>((subscriber) => {
        client.subscribe(filter, { qos }, (e, granted) => {
          const code = granted?.[0]?.qos
          if (e !== undefined && e !== null) {
            const ec = (e as { code?: unknown }).code
            const rc = typeof ec === 'number' ? ec : (code ?? 128)
            subscriber.error(
              err.subscribeRejected({
                message: `The broker refused the subscription to '${filter}': ${reasonName(rc, 5)} (reason code ${rc}).`,
                filter,
                reasonCode: rc,
              }),
            )
          } else if (code === undefined || code >= 128) {
            subscriber.error(
              err.subscribeRejected({
                message: `The broker refused the subscription to '${filter}' (reason code ${code ?? 'none'}).`,
                filter,
                reasonCode: code ?? 128,
              }),
            )
          } else {
            subscriber.next(code as QoS)
            subscriber.complete()
          }
        })
      }),
    unsubscribe: (filter) =>
      new Observable<void>((subscriber) => {
        client.unsubscribe(filter, (e) => {
          // the filter is gone either way once the connection is gone
          if (e !== undefined && e !== null && client.connected) subscriber.error(err.fromUnknown(e))
          else subscriber.complete()
        })
      }),
    publish: (topic, payload, opts) =>
      new Observable<PublishAck | undefined>((subscriber) => {
        if (!client.connected) {
          subscriber.error(err.notConnected({ message: 'The session is not connected right now; nothing was published.' }))
          return
        }
        client.publish(
          topic,
          payload,
          {
            qos: opts.qos,
            retain: opts.retain,
            ...(version === 5 && opts.properties !== undefined ? { properties: opts.properties } : {}),
          },
          (e, packet) => {
            const messageId = packet?.messageId
            const ack = messageId !== undefined ? acks.get(messageId) : undefined
            if (messageId !== undefined) acks.delete(messageId)
            if (e !== undefined && e !== null) {
              const rc = (e as { code?: unknown }).code
              subscriber.error(
                err.publishFailed({
                  message: `The broker did not accept the message on '${topic}': ${e.message}`,
                  ...(typeof rc === 'number' ? { reasonCode: rc } : {}),
                }),
              )
              return
            }
            if (opts.qos === 0) subscriber.next(undefined)
            else {
              const reasonCode = ack?.reasonCode ?? 0
              subscriber.next({ packet: ack?.cmd ?? (opts.qos === 1 ? 'puback' : 'pubcomp'), reasonCode, reason: reasonName(reasonCode, 5) })
            }
            subscriber.complete()
          },
        )
      }),
    disconnect: () =>
      new Promise<void>((resolve) => {
        onClosing()
        // a broker that never reads our DISCONNECT must not hold the close
        const force = scheduler.schedule(() => client.end(true, {}, () => resolve()), 500)
        client.end(false, {}, () => {
          force.unsubscribe()
          resolve()
        })
      }),
  }
}
