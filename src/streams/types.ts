/** The values that flow through the reactive core. Nothing here knows mqtt.js. */
import type { Observable } from 'rxjs'
import type { BrokerUrl } from '../mqtt/url.js'

export type QoS = 0 | 1 | 2
export type ProtocolVersion = 3 | 4 | 5

/** MQTT 5 properties of a received PUBLISH, when present. */
export interface MessageProperties {
  readonly contentType?: string
  readonly userProperties?: Readonly<Record<string, string | string[]>>
  readonly responseTopic?: string
  readonly correlationData?: Buffer
  readonly messageExpiryInterval?: number
  readonly payloadFormatIndicator?: boolean
}

/** One received message; `receivedAt` is the scheduler's clock in ms since the epoch. */
export interface Message {
  readonly topic: string
  readonly payload: Buffer
  readonly qos: QoS
  readonly retain: boolean
  readonly properties?: MessageProperties
  readonly receivedAt: number
  /**
   * Set when `payload` holds only the first bytes of a longer payload (a copy made by `keepHead` for state
   * that outlives the message): the whole payload's size in bytes and whether it was UTF-8.
   */
  readonly cut?: PayloadCut
}

/** What a kept head of a payload says about the whole payload. */
export interface PayloadCut {
  readonly sizeBytes: number
  readonly utf8: boolean
}

export interface TlsOptions {
  readonly ca?: string
  readonly cert?: string
  readonly key?: string
  readonly passphrase?: string
  readonly rejectUnauthorized?: boolean
  readonly servername?: string
  readonly alpn?: readonly string[]
}

/** Everything needed to open one MQTT connection. PEM texts are already loaded (no file paths here). */
export interface ConnectOptions {
  readonly url: BrokerUrl
  readonly username?: string
  readonly password?: string
  readonly clientId: string
  readonly protocolVersion: ProtocolVersion
  readonly keepaliveSeconds: number
  readonly clean: boolean
  readonly connectTimeoutMs: number
  readonly tls?: TlsOptions
}

/** What the broker told us in CONNACK. */
export interface ConnackInfo {
  readonly sessionPresent: boolean
  readonly protocolVersion: ProtocolVersion
  readonly serverKeepalive?: number
  readonly maximumPacketSize?: number
  readonly receiveMaximum?: number
  readonly maximumQoS?: QoS
  readonly retainAvailable?: boolean
  readonly assignedClientId?: string
}

export interface PublishOptions {
  readonly qos: QoS
  readonly retain: boolean
  readonly properties?: {
    readonly contentType?: string
    readonly userProperties?: Readonly<Record<string, string>>
    readonly responseTopic?: string
    readonly correlationData?: Buffer
    readonly messageExpiryInterval?: number
    readonly payloadFormatIndicator?: boolean
  }
}

/** The broker's acknowledgement of a QoS 1/2 publish (PUBACK / PUBCOMP). */
export interface PublishAck {
  readonly packet: 'puback' | 'pubcomp'
  readonly reasonCode: number
  readonly reason: string
}

/** One live connection: emitted by the connection source, gone when it errors or is unsubscribed. */
export interface Link {
  readonly connack: ConnackInfo
  /** Hot: every PUBLISH the broker sends on this connection. */
  readonly messages$: Observable<Message>
  /** Sends SUBSCRIBE; emits the granted QoS once, or fails with SubscribeRejected. */
  subscribe(filter: string, qos: QoS): Observable<QoS>
  /** Sends UNSUBSCRIBE; completes on UNSUBACK. */
  unsubscribe(filter: string): Observable<void>
  /** Sends PUBLISH; emits once: undefined at QoS 0 (written to the socket), the ack at QoS 1/2. */
  publish(topic: string, payload: Buffer, opts: PublishOptions): Observable<PublishAck | undefined>
  /** Sends DISCONNECT and closes the socket (bounded wait); the source then completes. */
  disconnect(): Promise<void>
}
