import test from 'ava'
import { type AppError, codeOf, isRetryable, toErrorBody } from '../../src/errors.js'
import { connackRefusal, isUnsupportedVersion, reasonName, socketError } from '../../src/mqtt/reason-codes.js'

const hintOf = (e: AppError): string => String(toErrorBody(e).error['hint'])
const reasonCodeOf = (e: AppError): number | undefined => (e as { reasonCode?: number }).reasonCode

const sockErr = (code: string | number | undefined, message = `connect ${String(code)}`): Error & { code?: string | number } =>
  Object.assign(new Error(message), code === undefined ? {} : { code })

// reasonName

test('reasonName uses the 3.1.1 CONNACK names below 5.0', (t) => {
  t.is(reasonName(1, 4), 'unacceptable protocol version')
  t.is(reasonName(2, 4), 'identifier rejected')
  t.is(reasonName(3, 4), 'server unavailable')
  t.is(reasonName(4, 4), 'bad user name or password')
  t.is(reasonName(5, 4), 'not authorized')
  t.is(reasonName(4, 3), 'bad user name or password')
})

test('reasonName uses the 5.0 reason code names', (t) => {
  t.is(reasonName(0, 5), 'Success')
  t.is(reasonName(1, 5), 'Granted QoS 1')
  t.is(reasonName(128, 5), 'Unspecified error')
  t.is(reasonName(134, 5), 'Bad User Name or Password')
  t.is(reasonName(135, 5), 'Not authorized')
  t.is(reasonName(159, 5), 'Connection rate exceeded')
  t.is(reasonName(162, 5), 'Wildcard Subscriptions not supported')
})

test('reasonName falls back to the number for an unknown code', (t) => {
  t.is(reasonName(200, 5), 'reason 200')
  t.is(reasonName(77, 4), 'reason 77')
})

// connackRefusal, MQTT 3.1.1

test('connackRefusal › 3.1.1 code 1 is a refused connection with a protocol version hint', (t) => {
  const e = connackRefusal(1, 4)
  t.is(e._tag, 'ConnectionRefused')
  t.is(reasonCodeOf(e), 1)
  t.regex(e.message, /unacceptable protocol version \(reason code 1\)/)
  t.regex(hintOf(e), /protocol_version/)
})

test('connackRefusal › 3.1.1 code 2 is a refused connection with a client id hint', (t) => {
  const e = connackRefusal(2, 4)
  t.is(e._tag, 'ConnectionRefused')
  t.is(reasonCodeOf(e), 2)
  t.regex(e.message, /identifier rejected/)
  t.regex(hintOf(e), /client_id/)
})

test('connackRefusal › 3.1.1 code 3 is a broker that is up but unavailable, worth a retry', (t) => {
  const e = connackRefusal(3, 4)
  t.is(e._tag, 'BrokerUnreachable')
  t.regex(e.message, /server unavailable/)
  t.true(isRetryable(e))
  t.regex(hintOf(e), /try again later/)
})

test('connackRefusal › 3.1.1 code 4 is an authentication failure, not retryable', (t) => {
  const e = connackRefusal(4, 4)
  t.is(e._tag, 'AuthenticationFailed')
  t.is(codeOf(e), 'AUTHENTICATION_FAILED')
  t.is(reasonCodeOf(e), 4)
  t.regex(e.message, /bad user name or password \(reason code 4\)/)
  t.false(isRetryable(e))
})

test('connackRefusal › 3.1.1 code 5 is not authorized for an anonymous client', (t) => {
  const e = connackRefusal(5, 4)
  t.is(e._tag, 'NotAuthorized')
  t.is(reasonCodeOf(e), 5)
  t.regex(e.message, /not authorized/)
  t.false(isRetryable(e))
})

test('connackRefusal › 3.1.1 code 5 with credentials sent is an authentication failure (Mosquitto)', (t) => {
  const e = connackRefusal(5, 4, true)
  t.is(e._tag, 'AuthenticationFailed')
  t.is(reasonCodeOf(e), 5)
})

test('connackRefusal › MQTT 3.1 (protocol 3) reads codes like 3.1.1', (t) => {
  t.is(connackRefusal(4, 3)._tag, 'AuthenticationFailed')
  t.is(connackRefusal(5, 3)._tag, 'NotAuthorized')
  t.is(connackRefusal(2, 3)._tag, 'ConnectionRefused')
})

// connackRefusal, MQTT 5

test('connackRefusal › 5.0 code 134 and 140 are authentication failures', (t) => {
  for (const code of [134, 140]) {
    const e = connackRefusal(code, 5)
    t.is(e._tag, 'AuthenticationFailed', String(code))
    t.is(reasonCodeOf(e), code)
  }
  t.regex(connackRefusal(134, 5).message, /Bad User Name or Password \(reason code 134\)/)
})

test('connackRefusal › 5.0 code 135 is not authorized, or an authentication failure when credentials were sent', (t) => {
  t.is(connackRefusal(135, 5)._tag, 'NotAuthorized')
  t.is(connackRefusal(135, 5, true)._tag, 'AuthenticationFailed')
  t.regex(connackRefusal(135, 5).message, /Not authorized/)
})

test('connackRefusal › 5.0 code 138 (banned) is not authorized, credentials or not', (t) => {
  t.is(connackRefusal(138, 5)._tag, 'NotAuthorized')
  t.is(connackRefusal(138, 5, true)._tag, 'NotAuthorized')
  t.regex(connackRefusal(138, 5).message, /Banned/)
})

test('connackRefusal › 5.0 code 133 is a refused connection with a client id hint', (t) => {
  const e = connackRefusal(133, 5)
  t.is(e._tag, 'ConnectionRefused')
  t.regex(e.message, /Client Identifier not valid/)
  t.regex(hintOf(e), /client_id/)
})

test('connackRefusal › 5.0 code 132 is an unsupported version with a protocol version hint', (t) => {
  const e = connackRefusal(132, 5)
  t.is(e._tag, 'ConnectionRefused')
  t.regex(e.message, /Unsupported Protocol Version/)
  t.regex(hintOf(e), /protocol_version/)
  t.true(isUnsupportedVersion(132, 5))
})

test('connackRefusal › code 1 answering a 5.0 CONNECT is a 3.1.1 broker refusing the version, named as such', (t) => {
  const e = connackRefusal(1, 5)
  t.is(e._tag, 'ConnectionRefused')
  t.true(isUnsupportedVersion(1, 5))
  t.regex(hintOf(e), /protocol_version/)
  t.regex(e.message, /unacceptable protocol version/)
  t.notRegex(e.message, /Granted QoS/)
})

test('connackRefusal › 5.0 busy, unavailable and rate-limited brokers are retryable', (t) => {
  for (const code of [136, 137, 159]) {
    const e = connackRefusal(code, 5)
    t.is(e._tag, 'BrokerUnreachable', String(code))
    t.true(isRetryable(e))
  }
})

test('connackRefusal › every other 5.0 refusal from 128 to 159 is a refused connection carrying its code and name', (t) => {
  const special = new Set([132, 133, 134, 135, 136, 137, 138, 140, 159])
  for (let code = 128; code <= 159; code++) {
    if (special.has(code)) continue
    const e = connackRefusal(code, 5)
    t.is(e._tag, 'ConnectionRefused', String(code))
    t.is(reasonCodeOf(e), code)
    t.regex(e.message, new RegExp(`\\(reason code ${code}\\)`))
    t.notRegex(e.message, /reason \d+ \(/, `code ${code} has a name`)
    t.false(isRetryable(e))
  }
})

test('connackRefusal › maps every 5.0 refusal code to some error with its code in the message', (t) => {
  for (let code = 128; code <= 159; code++) {
    t.true(connackRefusal(code, 5).message.includes(`reason code ${code}`), String(code))
  }
})

test('isUnsupportedVersion is true only for the version refusals', (t) => {
  t.true(isUnsupportedVersion(1, 4))
  t.false(isUnsupportedVersion(132, 4))
  t.false(isUnsupportedVersion(2, 4))
  t.false(isUnsupportedVersion(134, 5))
})

// socketError

test('socketError › ECONNREFUSED is an unreachable broker naming host:port', (t) => {
  const e = socketError(sockErr('ECONNREFUSED'), 'broker.local', 1883)
  t.is(e._tag, 'BrokerUnreachable')
  t.regex(e.message, /broker\.local:1883/)
  t.regex(e.message, /refused/)
  t.true(isRetryable(e))
})

test('socketError › ENOTFOUND and EAI_AGAIN are DNS failures naming the host', (t) => {
  for (const code of ['ENOTFOUND', 'EAI_AGAIN']) {
    const e = socketError(sockErr(code), 'no-such-host.invalid', 1883)
    t.is(e._tag, 'BrokerUnreachable')
    t.is((e as { cause?: string }).cause, 'dns')
    t.regex(e.message, /no-such-host\.invalid/)
    t.regex(e.message, new RegExp(code))
    t.regex(hintOf(e), /host name/)
  }
})

test('socketError › ETIMEDOUT is a TCP timeout naming host:port', (t) => {
  const e = socketError(sockErr('ETIMEDOUT'), '10.0.0.9', 8883)
  t.is(e._tag, 'BrokerUnreachable')
  t.regex(e.message, /10\.0\.0\.9:8883/)
  t.regex(e.message, /timed out/)
})

test('socketError › EHOSTUNREACH and ENETUNREACH are network failures naming host:port', (t) => {
  for (const code of ['EHOSTUNREACH', 'ENETUNREACH']) {
    const e = socketError(sockErr(code), 'h', 1)
    t.is(e._tag, 'BrokerUnreachable')
    t.regex(e.message, /h:1 /)
  }
})

test('socketError › ECONNRESET and EPIPE are a lost connection naming host:port', (t) => {
  for (const code of ['ECONNRESET', 'EPIPE']) {
    const e = socketError(sockErr(code), 'broker', 1884)
    t.is(e._tag, 'ConnectionLost')
    t.regex(e.message, /broker:1884/)
    t.regex(e.message, new RegExp(code))
    t.true(isRetryable(e))
  }
})

test('socketError › the TLS verification codes are TLS failures naming the failed check and host:port', (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'unknown CA', /self-signed/],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'unknown CA', /self-signed/],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unknown CA', /not trusted/],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown CA', /not trusted/],
    ['CERT_HAS_EXPIRED', 'expired', /has expired/],
    ['CERT_NOT_YET_VALID', 'not yet valid', /not valid yet/],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'hostname mismatch', /does not name this host/],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'not TLS', /does not speak TLS/],
  ]
  for (const [code, check, detail] of cases) {
    const e = socketError(sockErr(code, 'whatever node says'), 'secure.example.com', 8883)
    t.is(e._tag, 'TlsFailed', code)
    t.is((e as { check?: string }).check, check, code)
    t.regex(e.message, /secure\.example\.com:8883/, code)
    t.regex(e.message, detail, code)
    t.false(isRetryable(e), code)
  }
})

test('socketError › an unlisted ERR_SSL or ERR_TLS code, or a certificate message, is still a TLS failure', (t) => {
  t.is(socketError(sockErr('ERR_SSL_DECRYPTION_FAILED', 'decryption failed'), 'h', 8883)._tag, 'TlsFailed')
  t.is(socketError(sockErr('ERR_TLS_HANDSHAKE_TIMEOUT', 'handshake timeout'), 'h', 8883)._tag, 'TlsFailed')
  const e = socketError(sockErr(undefined, 'unable to verify the first certificate'), 'h', 8883)
  t.is(e._tag, 'TlsFailed')
  t.regex(e.message, /h:8883.*unable to verify the first certificate/)
})

test('socketError › an unknown socket error is an unreachable broker quoting the error', (t) => {
  const e = socketError(sockErr('EWEIRD', 'something odd'), 'h', 1883)
  t.is(e._tag, 'BrokerUnreachable')
  t.is((e as { cause?: string }).cause, 'EWEIRD')
  t.regex(e.message, /h:1883: something odd/)
  const numeric = socketError(sockErr(-111, 'errno -111'), 'h', 1883)
  t.is(numeric._tag, 'BrokerUnreachable')
  t.is((numeric as { cause?: string }).cause, 'socket')
})

test('socketError › writes an IPv6 host in brackets before the port', (t) => {
  t.regex(socketError(sockErr('ECONNREFUSED'), '::1', 1883).message, /\[::1\]:1883/)
  t.regex(socketError(sockErr('CERT_HAS_EXPIRED'), 'fe80::1', 8883).message, /\[fe80::1\]:8883/)
})
