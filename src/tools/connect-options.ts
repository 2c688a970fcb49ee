/**
 * The connect parameters shared by mqtt_establish_connection and mqtt_test_connection, and their
 * translation into a SessionSpec (URL parsed, credentials merged, TLS files loaded).
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { invalidInput, type AppError } from '../errors.js'
import { described, int, object, oneOf, optional, str } from '../mcp/codec.js'
import { CONNECTION_STRING_FORM, parseConnectionString } from '../mqtt/url.js'
import type { SessionSpec } from '../sessions/session.js'
import type { TlsOptions } from '../streams/types.js'

const pem = (what: string) => optional(described(str(1, 200_000), `${what}: a file path or PEM text.`))

export const tlsCodec = object(
  {
    ca: pem('CA certificate(s) that signed the broker certificate'),
    cert: pem('Client certificate for mutual TLS'),
    key: pem('Private key of the client certificate'),
    passphrase: optional(described(str(1, 1000), 'Passphrase of an encrypted private key.')),
    reject_unauthorized: optional(described(t.boolean, 'Verify the broker certificate and host name. Turn off only for testing.'), true),
    servername: optional(described(str(1, 253), 'TLS SNI server name, when it differs from the host.')),
    alpn: optional(described(t.array(t.string), 'ALPN protocols to offer, e.g. ["mqtt"] (AWS IoT on port 443).')),
  },
  'tls',
)

/** Connect parameters as the tools take them (snake_case on the wire). */
export const connectProps = {
  connection_string: described(
    str(1, 4096),
    `Broker URL: ${CONNECTION_STRING_FORM}. Default ports mqtt 1883, mqtts 8883, ws 80, wss 443; ws path default /mqtt.`,
  ),
  username: optional(described(str(0, 65535), 'Username; overrides the one in the URL.')),
  password: optional(described(str(0, 65535), 'Password; overrides the one in the URL. Never shown in any result or log.')),
  client_id: optional(described(str(1, 65535), 'MQTT client id. Default bitsperity-mqtt-mcp-<8 hex>.')),
  protocol_version: optional(
    described(oneOf([5, 4, 3, 'auto'] as const), 'MQTT protocol: 5, 4 (3.1.1), 3 (3.1) or "auto" (try 5, fall back to 3.1.1 when the broker refuses 5).'),
    'auto',
  ),
  keepalive_seconds: optional(described(int(0, 65535), 'Keep-alive interval in seconds (0 turns it off).'), 60),
  clean_session: optional(described(t.boolean, 'Start a clean session (no stored subscriptions or queued messages).'), true),
  connect_timeout_seconds: optional(described(int(1, 120), 'How long to wait for CONNACK, in seconds.'), 30),
  tls: optional(described(tlsCodec, 'TLS options for mqtts:// and wss://.')),
}

type ConnectInput = t.TypeOf<ReturnType<typeof object<typeof connectProps>>>

/** A random client id in the documented default form. */
export const defaultClientId = (): string => `bitsperity-mqtt-mcp-${randomBytes(4).toString('hex')}`

async function loadPem(field: string, value: string | undefined): Promise<E.Either<AppError, string | undefined>> {
  if (value === undefined) return E.right(undefined)
  if (value.includes('-----BEGIN')) return E.right(value)
  try {
    return E.right(await readFile(value, 'utf8'))
  } catch (e) {
    const reason = (e as { code?: string }).code ?? 'unreadable'
    return E.left(
      invalidInput({
        message: `tls.${field}: could not read the file ${value} (${reason}).`,
        fields: [{ field: `tls.${field}`, expected: 'a readable file path or PEM text starting with -----BEGIN' }],
      }),
    )
  }
}

/** Turns decoded connect parameters into a SessionSpec; Left names the bad field. */
export async function toSessionSpec(input: ConnectInput & { name?: string | undefined }): Promise<E.Either<AppError, SessionSpec>> {
  const parsed = parseConnectionString(input.connection_string)
  if (E.isLeft(parsed)) {
    return E.left(
      invalidInput({
        message: `connection_string: ${parsed.left}`,
        fields: [{ field: 'connection_string', expected: CONNECTION_STRING_FORM }],
      }),
    )
  }
  const url = parsed.right
  let tls: TlsOptions | undefined
  if (input.tls !== undefined) {
    const loaded: Record<string, string | undefined> = {}
    for (const field of ['ca', 'cert', 'key'] as const) {
      const r = await loadPem(field, input.tls[field])
      if (E.isLeft(r)) return r
      loaded[field] = r.right
    }
    tls = {
      ...(loaded['ca'] !== undefined ? { ca: loaded['ca'] } : {}),
      ...(loaded['cert'] !== undefined ? { cert: loaded['cert'] } : {}),
      ...(loaded['key'] !== undefined ? { key: loaded['key'] } : {}),
      ...(input.tls.passphrase !== undefined ? { passphrase: input.tls.passphrase } : {}),
      rejectUnauthorized: input.tls.reject_unauthorized,
      ...(input.tls.servername !== undefined ? { servername: input.tls.servername } : {}),
      ...(input.tls.alpn !== undefined ? { alpn: input.tls.alpn } : {}),
    }
  }
  const username = input.username ?? url.username
  const password = input.password ?? url.password
  return E.right({
    ...(input.name !== undefined ? { name: input.name } : {}),
    url,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    clientId: input.client_id ?? url.clientId ?? defaultClientId(),
    protocolVersion: input.protocol_version,
    keepaliveSeconds: input.keepalive_seconds,
    clean: input.clean_session,
    connectTimeoutMs: input.connect_timeout_seconds * 1000,
    ...(tls !== undefined ? { tls } : {}),
  })
}
