/** MQTT reason codes (3.1.1 CONNACK return codes and 5.0 reason codes) and the errors they mean. */
import * as err from '../errors.js'
import type { AppError } from '../errors.js'

/** MQTT 5.0 §2.4 reason code names. */
const v5: Readonly<Record<number, string>> = {
  0: 'Success',
  1: 'Granted QoS 1',
  2: 'Granted QoS 2',
  4: 'Disconnect with Will Message',
  16: 'No matching subscribers',
  17: 'No subscription existed',
  24: 'Continue authentication',
  25: 'Re-authenticate',
  128: 'Unspecified error',
  129: 'Malformed Packet',
  130: 'Protocol Error',
  131: 'Implementation specific error',
  132: 'Unsupported Protocol Version',
  133: 'Client Identifier not valid',
  134: 'Bad User Name or Password',
  135: 'Not authorized',
  136: 'Server unavailable',
  137: 'Server busy',
  138: 'Banned',
  139: 'Server shutting down',
  140: 'Bad authentication method',
  141: 'Keep Alive timeout',
  142: 'Session taken over',
  143: 'Topic Filter invalid',
  144: 'Topic Name invalid',
  145: 'Packet Identifier in use',
  146: 'Packet Identifier not found',
  147: 'Receive Maximum exceeded',
  148: 'Topic Alias invalid',
  149: 'Packet too large',
  150: 'Message rate too high',
  151: 'Quota exceeded',
  152: 'Administrative action',
  153: 'Payload format invalid',
  154: 'Retain not supported',
  155: 'QoS not supported',
  156: 'Use another server',
  157: 'Server moved',
  158: 'Shared Subscriptions not supported',
  159: 'Connection rate exceeded',
  160: 'Maximum connect time',
  161: 'Subscription Identifiers not supported',
  162: 'Wildcard Subscriptions not supported',
}

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes. */
const v3Connack: Readonly<Record<number, string>> = {
  0: 'Connection Accepted',
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
}

/** The name of a reason code, e.g. 135 → "Not authorized". */
export function reasonName(code: number, protocolVersion: number): string {
  if (protocolVersion < 5 && code <= 5) return v3Connack[code] ?? `reason ${code}`
  return v5[code] ?? `reason ${code}`
}

/** True when a CONNACK refusal means the broker does not speak the protocol version we asked for. */
export const isUnsupportedVersion = (code: number, protocolVersion: number): boolean =>
  protocolVersion === 5 ? code === 132 || code === 1 : code === 1

/**
 * Maps a CONNACK refusal to the error it means. `withCredentials`: the CONNECT carried a username or password.
 * Mosquitto (2.0) answers a wrong password or an unknown user with "not authorized" (5 / 135), never with "bad
 * user name or password" (4 / 134): with credentials sent, "not authorized" is reported as AuthenticationFailed.
 */
export function connackRefusal(code: number, protocolVersion: number, withCredentials = false): AppError {
  // A 5.0 CONNACK refusal is >= 128; a lower code answering a 5.0 CONNECT comes from a 3.1.1 broker (1: version)
  const name = reasonName(code, protocolVersion === 5 && code < 128 ? 4 : protocolVersion)
  const message = `The broker refused the connection: ${name} (reason code ${code}).`
  const v5 = protocolVersion === 5
  if ((v5 && (code === 134 || code === 140)) || (!v5 && code === 4)) return err.authenticationFailed({ message, reasonCode: code })
  if ((v5 && code === 135) || (!v5 && code === 5)) {
    return withCredentials
      ? err.authenticationFailed({
          message,
          reasonCode: code,
          hint: 'The broker refused these credentials (Mosquitto says "not authorized" for a wrong username or password). Ask the user for the right ones; if they are right, the broker\'s ACL does not allow this client.',
        })
      : err.notAuthorized({
          message,
          reasonCode: code,
          hint: 'The broker refused an anonymous client: it probably requires a username and password (ask the user), or its ACL does not allow this client.',
        })
  }
  if (v5 && code === 138) return err.notAuthorized({ message, reasonCode: code })
  if ((v5 && (code === 136 || code === 137 || code === 159)) || (!v5 && code === 3)) {
    return err.brokerUnreachable({ message, cause: name, hint: 'The broker is up but not accepting clients now; try again later.' })
  }
  if ((v5 && code === 133) || (!v5 && code === 2)) {
    return err.connectionRefused({ message, reasonCode: code, hint: 'Use another client_id (letters and digits, at most 23 characters are always accepted), or leave it out.' })
  }
  if (isUnsupportedVersion(code, protocolVersion)) {
    return err.connectionRefused({ message, reasonCode: code, hint: 'Use protocol_version "auto" or 4 (MQTT 3.1.1).' })
  }
  return err.connectionRefused({ message, reasonCode: code })
}

const TLS_CODES: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'unknown CA: the broker certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'unknown CA: a self-signed certificate is in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unknown CA: the issuer of the broker certificate is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unknown CA: the issuer of the broker certificate is not trusted',
  UNABLE_TO_GET_ISSUER_CERT: 'unknown CA: the issuer certificate could not be found',
  CERT_HAS_EXPIRED: 'expired: the broker certificate has expired',
  CERT_NOT_YET_VALID: 'not yet valid: the broker certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'hostname mismatch: the certificate does not name this host',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not TLS: the port does not speak TLS (use mqtt:// or the TLS port)',
  // the broker's alerts about our client certificate (TLS 1.3 sends them after the handshake, at the first read)
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client certificate required: the broker requires a client certificate (pass tls.cert and tls.key)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client certificate refused: the broker does not trust the CA that signed the client certificate',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client certificate refused: the broker rejected the client certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'client certificate refused: the broker says the client certificate has expired',
  // loading our own key and certificate
  ERR_OSSL_BAD_DECRYPT: 'client key: the private key could not be decrypted (wrong or missing tls.passphrase)',
  ERR_OSSL_UNSUPPORTED: 'certificate or key: not a PEM certificate or private key that can be read (or an encrypted key with a wrong tls.passphrase)',
  ERR_OSSL_PEM_NO_START_LINE: 'certificate or key: no PEM data found (tls.ca, tls.cert and tls.key take PEM text or a file path)',
  ERR_OSSL_X509_KEY_VALUES_MISMATCH: 'client key: tls.key does not belong to the certificate in tls.cert',
}

/** The reason in an OpenSSL error string ("…:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:…"). */
const opensslReason = (message: string): string => /routines:(?:[^:\n]*:)?([^:\n]+)(?::|$)/m.exec(message)?.[1] ?? message.split('\n')[0] ?? message

/** What a TLS or OpenSSL error means ("<check>: <explanation>"), or undefined when it is not one. */
export function tlsProblem(e: Error & { code?: string | number }): string | undefined {
  const code = typeof e.code === 'string' ? e.code : ''
  return (
    TLS_CODES[code] ??
    (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.startsWith('ERR_OSSL') || /certificate|ssl|tls/i.test(e.message) ? opensslReason(e.message) : undefined)
  )
}

/** Maps a socket-level error (errno or TLS code) before CONNACK to the error it means. */
export function socketError(e: Error & { code?: string | number }, host: string, port: number): AppError {
  const code = typeof e.code === 'string' ? e.code : ''
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  const tls = tlsProblem(e)
  if (tls !== undefined) return err.tlsFailed({ message: `TLS handshake with ${where} failed: ${tls}.`, check: tls.split(':')[0] ?? tls })
  switch (code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return err.brokerUnreachable({ message: `The host name ${host} could not be resolved (DNS ${code}).`, cause: 'dns', hint: 'Check the host name for typos, or use an IP address.' })
    case 'ECONNREFUSED':
      return err.brokerUnreachable({ message: `Nothing accepts connections at ${where} (TCP connection refused).`, cause: 'tcp refused' })
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return err.brokerUnreachable({ message: `${where} is not reachable from here (${code}).`, cause: 'network' })
    case 'ETIMEDOUT':
      return err.brokerUnreachable({ message: `TCP connect to ${where} timed out.`, cause: 'tcp timeout' })
    case 'ECONNRESET':
    case 'EPIPE':
      return err.connectionLost({ message: `The connection to ${where} was reset (${code}).` })
    default:
      return err.brokerUnreachable({ message: `Could not connect to ${where}: ${e.message}`, cause: code || 'socket' })
  }
}
