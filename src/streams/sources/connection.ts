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
import { asyncScheduler, catchError, defer, Observable, share, tap, throwError, type SchedulerLike } from 'rxjs'
import * as err from '../../errors.js'
import type { AppError } from '../../errors.js'
import { connackRefusal, isUnsupportedVersion, reasonName, socketError } from '../../mqtt/reason-codes.js'
import type { ConnackInfo, ConnectOptions, Link, Message, MessageProperties, ProtocolVersion, PublishAck, QoS } from '../types.js'

/** How long an MQTT 5 CONNECT may go unanswered before `auto` tries 3.1.1: some brokers refuse 5 by silence. */
export const SILENT_REFUSAL_MS = 3000

/** Opens one connection; emits its Link on CONNACK, errors with an AppError when refused or lost. */
export function connect(opts: ConnectOptions, scheduler: SchedulerLike = asyncScheduler): Observable<Link> {
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
): Observable<Link> {
  if (opts.protocolVersion !== 'auto') return connect({ ...opts, protocolVersion: opts.protocolVersion }, scheduler)
  const v5 = connect({ ...opts, protocolVersion: 5, connectTimeoutMs: Math.min(opts.connectTimeoutMs, SILENT_REFUSAL_MS) }, scheduler)
  return defer(() => {
    // only a CONNECT that failed falls back: losing a connection made on 5 must not reconnect on 3.1.1
    let connected = false
    return v5.pipe(
      tap(() => {
        connected = true
      }),
      catchError((e: AppError) =>
        !connected && refusesVersion5(e) ? connect({ ...opts, protocolVersion: 4 }, scheduler) : throwError(() => e),
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
  if (p.correlationData !== undefined) out.correlationData = p.correlationData
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
        payload,
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
