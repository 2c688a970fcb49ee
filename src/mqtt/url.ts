/** MQTT connection strings: parsing into a BrokerUrl, and redaction for logs, errors and results. Pure. */
import { isIPv6 } from 'node:net'
import * as E from 'fp-ts/lib/Either.js'

// -------------------------------------------------------------------------------------
// model
// -------------------------------------------------------------------------------------

/** How the client reaches the broker: plain TCP, TLS, WebSocket or WebSocket over TLS. */
export type Transport = 'mqtt' | 'mqtts' | 'ws' | 'wss'

/** A parsed connection string; credentials and client id are percent-decoded, an IPv6 host has no brackets. */
export interface BrokerUrl {
  readonly transport: Transport
  readonly host: string
  /** TCP port, 1..65535. */
  readonly port: number
  /** WebSocket request path with any query string (ws/wss only; default `/mqtt`). */
  readonly path?: string
  readonly username?: string
  readonly password?: string
  /** The single path segment of an mqtt/mqtts URL. */
  readonly clientId?: string
}

/** The accepted shape, quoted in every parse error. */
export const CONNECTION_STRING_FORM = 'mqtt|mqtts|ws|wss://[username[:password]@]host[:port][/client_id]'

/** Port used when the connection string names none, per transport. */
export const DEFAULT_PORTS: Readonly<Record<Transport, number>> = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }

/** WebSocket path used when a ws/wss connection string has none (Mosquitto, EMQX and HiveMQ all serve it). */
export const DEFAULT_WS_PATH = '/mqtt'

const REDACTED = '***'
const EXPECTED = `expected ${CONNECTION_STRING_FORM}`
const ENCODE_HINT = "percent-encode '/', '?', '#' and '@' inside a password or client id (%2F, %3F, %23, %40)"

// The hand-written split below, not WHATWG URL: URL lowercases ws/wss hosts, blanks default ports, drops
// tabs and newlines, cannot tell `ws://h` from `ws://h/`, and its errors do not say what is wrong.
interface Parts {
  readonly scheme: string
  /** Offset of the authority (just after `://`). */
  readonly authorityStart: number
  readonly authority: string
  /** Offset of the last '@' inside the authority, or -1. */
  readonly at: number
  /** Path, query and fragment: everything after the authority. */
  readonly tail: string
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//

function split(s: string): Parts | undefined {
  const m = SCHEME.exec(s)
  if (m === null) return undefined
  const authorityStart = m[0].length
  let end = authorityStart
  while (end < s.length && s[end] !== '/' && s[end] !== '?' && s[end] !== '#') end++
  const authority = s.slice(authorityStart, end)
  const scheme = (m[1] ?? '').toLowerCase()
  // The last '@' wins, as in WHATWG URL, so an unencoded '@' in a password still parses.
  return { scheme, authorityStart, authority, at: authority.lastIndexOf('@'), tail: s.slice(end) }
}

// -------------------------------------------------------------------------------------
// parsing
// -------------------------------------------------------------------------------------

/** Parses `mqtt|mqtts|ws|wss://[username[:password]@]host[:port][/client_id]`; Left says what is wrong. */
export function parseConnectionString(s: string): E.Either<string, BrokerUrl> {
  if (s.trim().length === 0) return E.left(`the connection string is empty; ${EXPECTED}, e.g. mqtt://localhost:1883`)
  const bad = firstUnprintable(s)
  if (bad >= 0) {
    return E.left(
      `the connection string contains whitespace or a control character at position ${bad}; ` +
        'remove it (a space inside a password is written %20)',
    )
  }
  const parts = split(s)
  if (parts === undefined) {
    const near = /^(mqtts?|wss?):/i.exec(s)
    if (near !== null) return E.left(`the scheme '${near[0]}' must be followed by '//'; ${EXPECTED}`)
    return E.left(`the connection string has no scheme; ${EXPECTED}, e.g. ${redactConnectionString('mqtt://' + s)}`)
  }
  const transport = toTransport(parts.scheme)
  if (E.isLeft(transport)) return transport

  const credentials = parseUserinfo(parts.at < 0 ? '' : parts.authority.slice(0, parts.at))
  if (E.isLeft(credentials)) return credentials

  // A '/' inside an unencoded password ends the authority early; what follows still holds the '@'.
  const misplacedAt = parts.tail.includes('@')
  const hostPort = parseHostPort(parts.authority.slice(parts.at + 1), transport.right)
  if (E.isLeft(hostPort)) {
    return misplacedAt ? E.left(`could not find the host: ${ENCODE_HINT}; ${EXPECTED}`) : hostPort
  }

  const isWs = transport.right === 'ws' || transport.right === 'wss'
  const rest = isWs ? parseWsPath(parts.tail) : parseClientId(parts.tail)
  if (E.isLeft(rest)) return rest

  return E.right({ transport: transport.right, ...hostPort.right, ...rest.right, ...credentials.right })
}

// A pasted line break or tab is a copy mistake, not part of a password (WHATWG URL would drop it silently).
function firstUnprintable(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x20 || c === 0x7f || /\s/.test(s.charAt(i))) return i
  }
  return -1
}

function toTransport(scheme: string): E.Either<string, Transport> {
  switch (scheme) {
    case 'mqtt':
    case 'mqtts':
    case 'ws':
    case 'wss':
      return E.right(scheme)
    case 'tcp':
      return E.left(
        "unknown scheme 'tcp://': plain TCP is spelled mqtt:// (TLS is mqtts://), e.g. mqtt://broker.example.com:1883",
      )
    case 'ssl':
    case 'tls':
    case 'tcps':
    case 'mqtt+ssl':
      return E.left(
        `unknown scheme '${scheme}://': MQTT over TLS is spelled mqtts://, e.g. mqtts://broker.example.com:8883`,
      )
    case 'http':
    case 'https':
      return E.left(
        `unknown scheme '${scheme}://': MQTT over WebSocket is spelled ws:// (TLS: wss://), ` +
          'e.g. wss://broker.example.com:443/mqtt',
      )
    default:
      return E.left(`unknown scheme '${scheme}://'; ${EXPECTED}`)
  }
}

interface Credentials {
  readonly username?: string
  readonly password?: string
}

function parseUserinfo(userinfo: string): E.Either<string, Credentials> {
  if (userinfo.length === 0) return E.right({})
  const colon = userinfo.indexOf(':')
  const username = decode(colon < 0 ? userinfo : userinfo.slice(0, colon), 'username')
  if (E.isLeft(username)) return username
  // MQTT strings may not hold U+0000 (§1.5.3); the password is binary data and may.
  if (username.right.includes('\u0000')) return E.left('the username cannot contain %00 (U+0000); remove it')
  if (colon < 0) return E.right({ username: username.right })
  const password = decode(userinfo.slice(colon + 1), 'password')
  if (E.isLeft(password)) return password
  return E.right({ username: username.right, password: password.right })
}

interface HostPort {
  readonly host: string
  readonly port: number
}

// Letters and marks admit internationalised names; '_' appears in Docker and Kubernetes service names.
const HOST_NAME = /^[\p{L}\p{M}\p{N}._-]+$/u

function parseHostPort(hostPort: string, transport: Transport): E.Either<string, HostPort> {
  const ipv6Example = `${transport}://[::1]:${DEFAULT_PORTS[transport]}`
  const unbracketedColons = hostPort.startsWith('[') ? 0 : hostPort.split(':').length - 1
  if (unbracketedColons > 1) {
    return E.left(`an IPv6 address must be in brackets, e.g. ${ipv6Example}`)
  }
  if (hostPort.length === 0 || hostPort.startsWith(':')) {
    const example = `${transport}://localhost:${DEFAULT_PORTS[transport]}`
    return E.left(`the connection string has no host; ${EXPECTED}, e.g. ${example}`)
  }
  let host: string
  let portText: string | undefined
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']')
    if (close < 0) return E.left(`the IPv6 address is missing its closing ']'; write it as ${ipv6Example}`)
    // A zone id is percent-encoded in URLs (RFC 6874): [fe80::1%25eth0].
    host = hostPort.slice(1, close).replaceAll('%25', '%')
    if (!isIPv6(host)) return E.left(`'${hostPort.slice(0, close + 1)}' is not a valid IPv6 address`)
    const after = hostPort.slice(close + 1)
    if (after.length > 0 && !after.startsWith(':')) {
      return E.left(`unexpected text after the IPv6 address; write it as ${ipv6Example}`)
    }
    portText = after.length > 0 ? after.slice(1) : undefined
  } else {
    const colon = hostPort.indexOf(':')
    host = colon < 0 ? hostPort : hostPort.slice(0, colon)
    portText = colon < 0 ? undefined : hostPort.slice(colon + 1)
    if (!HOST_NAME.test(host)) {
      return E.left(
        `the host '${host}' contains characters a host name cannot have (letters, digits, '.', '-' and '_' only)`,
      )
    }
  }
  const port = parsePort(portText, transport)
  return E.isLeft(port) ? port : E.right({ host, port: port.right })
}

function parsePort(text: string | undefined, transport: Transport): E.Either<string, number> {
  if (text === undefined) return E.right(DEFAULT_PORTS[transport])
  const fix = `give a number 1..65535, or leave out ':' and the port for the default ${DEFAULT_PORTS[transport]}`
  if (text.length === 0) return E.left(`the port after ':' is empty; ${fix}`)
  // Not echoed: when a password holds an unencoded '/', this text is part of the password.
  if (!/^\d+$/.test(text)) return E.left(`the port is not a number; ${fix}`)
  const port = Number(text)
  const shown = text.length > 12 ? text.slice(0, 12) + '…' : text
  if (port < 1 || port > 65535) return E.left(`port ${shown} is out of range; ${fix}`)
  return E.right(port)
}

function parseClientId(tail: string): E.Either<string, { readonly clientId?: string }> {
  if (tail.length === 0 || tail === '/') return E.right({})
  if (!tail.startsWith('/') || tail.includes('?') || tail.includes('#')) {
    return E.left(
      "mqtt:// and mqtts:// connection strings take no query string or fragment; percent-encode '?' and '#' " +
        'in a client id as %3F and %23',
    )
  }
  const segment = tail.slice(1)
  if (segment.includes('/')) {
    return E.left(
      "the client id cannot contain '/': at most one path segment follows the host, as in " +
        "mqtt://localhost:1883/my-client; percent-encode '/' as %2F",
    )
  }
  if (segment.includes('@')) return E.left(`unexpected '@' after the host: ${ENCODE_HINT}`)
  const clientId = decode(segment, 'client id')
  if (E.isLeft(clientId)) return clientId
  if (clientId.right.includes('\u0000')) return E.left('the client id cannot contain %00 (U+0000); remove it')
  return E.right({ clientId: clientId.right })
}

function parseWsPath(tail: string): E.Either<string, { readonly path: string }> {
  if (tail.includes('#')) return E.left("a WebSocket URL fragment ('#…') never reaches the broker; remove it")
  // The path goes into the HTTP request line as written, so it is not decoded.
  if (tail.length === 0 || tail.startsWith('?')) return E.right({ path: DEFAULT_WS_PATH + tail })
  return E.right({ path: tail })
}

function decode(text: string, what: string): E.Either<string, string> {
  try {
    return E.right(decodeURIComponent(text))
  } catch {
    // Not echoed: the text may be a password.
    return E.left(`the ${what} has a malformed percent-escape; write a literal '%' as %25`)
  }
}

// -------------------------------------------------------------------------------------
// redaction
// -------------------------------------------------------------------------------------

// Query parameters that carry credentials on ws/wss URLs (AWS IoT presigned URLs, token auth).
const SECRET_PARAM = /pass|secret|token|signature|credential|auth|key/i

// Fallback for text that does not parse: greedy to the last '@' of the word, so an unencoded '/' or '@'
// in the password is masked too (over-masking a path is the safe mistake).
const LOOSE_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/?#\s]*:)\S*@/gi

/** The connection string with its password (and secret-looking query values) replaced by `***`; never throws. */
export function redactConnectionString(s: string): string {
  const parts = split(s)
  if (parts === undefined || E.isLeft(parseConnectionString(s))) return s.replace(LOOSE_CREDENTIALS, `$1${REDACTED}@`)
  let out = s
  const query = parts.tail.indexOf('?')
  if (query >= 0) {
    const tailStart = parts.authorityStart + parts.authority.length
    out = out.slice(0, tailStart + query) + redactQuery(parts.tail.slice(query))
  }
  const colon = parts.authority.indexOf(':')
  if (parts.at >= 0 && colon >= 0 && colon < parts.at) {
    out = out.slice(0, parts.authorityStart + colon + 1) + REDACTED + out.slice(parts.authorityStart + parts.at)
  }
  return out
}

function redactQuery(query: string): string {
  return query.replace(/([?&])([^=&]*)=([^&]*)/g, (whole, sep: string, key: string) =>
    SECRET_PARAM.test(key) ? `${sep}${key}=${REDACTED}` : whole,
  )
}

/** The canonical, redacted form of a BrokerUrl, always with its port: `mqtts://alice:***@example.com:8883`. */
export function formatBrokerUrl(u: BrokerUrl): string {
  const userinfo =
    u.username !== undefined || u.password !== undefined
      ? `${encodeComponent(u.username ?? '')}${u.password !== undefined ? ':' + REDACTED : ''}@`
      : ''
  const host = u.host.includes(':') ? `[${u.host.replaceAll('%', '%25')}]` : u.host
  const tail =
    u.transport === 'ws' || u.transport === 'wss'
      ? redactQuery(u.path ?? DEFAULT_WS_PATH)
      : u.clientId !== undefined && u.clientId.length > 0
        ? '/' + encodeComponent(u.clientId)
        : ''
  return `${u.transport}://${userinfo}${host}:${u.port}${tail}`
}

// encodeURIComponent throws on unpaired surrogates; a display string should not.
function encodeComponent(s: string): string {
  return encodeURIComponent(s.replace(/\p{Cs}/gu, '\uFFFD'))
}
