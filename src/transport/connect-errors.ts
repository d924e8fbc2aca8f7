/** Why a TLS or WebSocket connection failed, as errors with a stable code and a line that says what to do. */
import { PetrelError } from '../errors.js'

/** Stable codes of failed TLS and WebSocket connections. */
export const TransportErrorCode = {
  /** The server's certificate chain does not lead to a trusted CA (or is expired, revoked...). */
  TLS_UNTRUSTED: 'PETREL_TLS_UNTRUSTED',
  /** The certificate is valid but for another name. */
  TLS_NAME: 'PETREL_TLS_NAME',
  /** The server refused the client certificate (none given, or one it does not trust). */
  TLS_CLIENT_CERT: 'PETREL_TLS_CLIENT_CERT',
  /** The TLS handshake failed otherwise (no common version or cipher, not TLS on that port...). */
  TLS_HANDSHAKE: 'PETREL_TLS_HANDSHAKE',
  /** The HTTP upgrade to WebSocket failed (wrong path, no 'mqtt' subprotocol, not a WebSocket server). */
  WS_HANDSHAKE: 'PETREL_WS_HANDSHAKE',
  /** The server closed the WebSocket with an error code, or sent a text frame. */
  WS_CLOSED: 'PETREL_WS_CLOSED',
} as const
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode]

/** A TLS or WebSocket connection failed for a reason the user can act on. The node error is the cause. */
export class TransportError extends PetrelError {
  constructor(code: TransportErrorCode, message: string, cause?: unknown) {
    super(code, message, cause === undefined ? undefined : { cause })
  }
}

/** OpenSSL's verification failures (X509_V_ERR_*), as node:tls codes them. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
])

/** A verification failure as a TransportError that says what to do; other errors unchanged. */
export function explainTlsError(err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code ?? ''
  if (UNTRUSTED.has(code)) {
    return new TransportError(
      TransportErrorCode.TLS_UNTRUSTED,
      `the server's TLS certificate is not trusted (${err.message}): give the CA that signed it as ca`,
      err,
    )
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new TransportError(
      TransportErrorCode.TLS_NAME,
      `the server's TLS certificate is for another name (${err.message}): connect by a name it holds, or set servername`,
      err,
    )
  }
  if (code === 'ECONNRESET' && /before secure TLS connection/.test(err.message)) {
    // Node's words when the server hangs up on the ClientHello: an MQTT or HTTP port without TLS, mostly.
    return new TransportError(
      TransportErrorCode.TLS_HANDSHAKE,
      `TLS handshake failed: the server closed the connection during it (${err.message}); check that this port takes TLS`,
      err,
    )
  }
  if (!code.startsWith('ERR_SSL_')) return err
  // OpenSSL's message is several lines of internals; its reason is the readable part.
  const reason = (err as { reason?: string }).reason ?? code
  if (CLIENT_CERT_ALERTS.some((a) => code.endsWith(a))) {
    return new TransportError(
      TransportErrorCode.TLS_CLIENT_CERT,
      `the server refused the TLS client certificate (${reason}): give one from a CA it trusts as cert and key`,
      err,
    )
  }
  const why = VERSION_CODES.includes(code)
    ? `no TLS version in common with the server (${reason})`
    : code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG'
      ? `the server does not speak TLS on this port (${reason})`
      : reason
  return new TransportError(TransportErrorCode.TLS_HANDSHAKE, `TLS handshake failed: ${why}`, err)
}

/** TLS alerts a server sends about the client's certificate. */
const CLIENT_CERT_ALERTS = [
  '_ALERT_CERTIFICATE_REQUIRED',
  '_ALERT_BAD_CERTIFICATE',
  '_ALERT_UNKNOWN_CA',
  '_ALERT_CERTIFICATE_UNKNOWN',
  '_ALERT_CERTIFICATE_EXPIRED',
  '_ALERT_UNSUPPORTED_CERTIFICATE',
]

const VERSION_CODES = [
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
]
