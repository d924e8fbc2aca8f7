import { ScramError, ScramErrorCode } from './errors.js'

/*
 * The four SCRAM messages of RFC 5802 section 7, parsed strictly and formatted.
 * Messages are comma-separated `a=value` attributes in a fixed order; extensions
 * (single-letter attributes we do not know) may follow where the grammar allows
 * them and are ignored, except `m=`, which must fail the exchange (section 5.1).
 * Not supported, and refused: channel binding ('p=' flag, SCRAM-SHA-256-PLUS) and
 * an authorization identity ('a='). A client that supports channel binding but
 * thinks we do not ('y') is accepted, as section 6 allows a server without it.
 */

/** The GS2 headers we accept: no channel binding, no authorization identity. */
export const GS2_HEADER = 'n,,'
const GS2_HEADER_Y = 'y,,'

export interface ClientFirst {
  /** 'n,,' or 'y,,', echoed base64-encoded in the client-final message. */
  readonly gs2Header: string
  /** The user name, unescaped (=2C and =3D decoded). */
  readonly username: string
  readonly nonce: string
  /** client-first-message-bare: the message without its GS2 header, part of AuthMessage. */
  readonly bare: string
}

export interface ServerFirst {
  readonly nonce: string
  readonly salt: Buffer
  readonly iterations: number
}

export interface ClientFinal {
  /** The decoded `c=` attribute: the GS2 header again, as we support no channel binding. */
  readonly channelBinding: Buffer
  readonly nonce: string
  readonly proof: Buffer
  /** client-final-message-without-proof, part of AuthMessage. */
  readonly withoutProof: string
}

export type ServerFinal =
  | { readonly ok: true; readonly signature: Buffer }
  | { readonly ok: false; readonly error: string }

// printable = %x21-2B / %x2D-7E (no comma)
const NONCE = /^[\x21-\x2B\x2D-\x7E]+$/
const POSITIVE_NUMBER = /^[1-9][0-9]{0,9}$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
// saslname: no ',' or '=' except the escapes =2C and =3D
const SASLNAME = /^(?:[^,=]|=2C|=3D)+$/
// value-char: any UTF-8 character except NUL and ','
const VALUE = /^[^,\0]+$/
// attribute letters with a meaning; any other letter is an extension
const KNOWN = new Set(['a', 'c', 'e', 'i', 'm', 'n', 'p', 'r', 's', 'v'])
const SHA256_SIZE = 32

function malformed(what: string): ScramError {
  return new ScramError(ScramErrorCode.MALFORMED, `malformed SCRAM message: ${what}`)
}

/** Escapes ',' and '=' in a user name (RFC 5802 section 5.1, saslname). */
function escapeUsername(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C')
}

function unescapeUsername(s: string): string {
  if (!SASLNAME.test(s)) throw malformed("user name has ',' or '=' not escaped as =2C or =3D")
  return s.replace(/=2C|=3D/g, (e) => (e === '=2C' ? ',' : '='))
}

/** Strict base64: canonical padding and no stray bits, so one value has one spelling. */
export function decodeBase64(s: string, what: string): Buffer {
  const b = BASE64.test(s) ? Buffer.from(s, 'base64') : null
  if (b === null || b.toString('base64') !== s) throw malformed(`${what} is not base64`)
  return b
}

function text(data: Buffer | undefined, what: string): string {
  if (data === undefined || data.length === 0) throw malformed(`no ${what}`)
  const s = data.toString('utf8')
  if (!Buffer.from(s, 'utf8').equals(data)) throw malformed(`${what} is not UTF-8`)
  return s
}

/** Reads `a=value` attributes in order. */
class Attributes {
  private readonly parts: string[]
  private at = 0
  constructor(
    s: string,
    private readonly what: string,
  ) {
    this.parts = s.split(',')
  }

  /** The value of the next attribute, which must be `name`. */
  take(name: string): string {
    const part = this.parts[this.at]
    if (part === undefined || part[0] !== name || part[1] !== '=')
      throw malformed(`${this.what} lacks '${name}=' where expected`)
    this.at++
    const value = part.slice(2)
    if (!VALUE.test(value)) throw malformed(`${this.what} has an empty or invalid '${name}='`)
    return value
  }

  /** Whether the next attribute is `name`. */
  next(name: string): boolean {
    const part = this.parts[this.at]
    return part !== undefined && part[0] === name && part[1] === '='
  }

  /** Skips extensions up to `stop` (or the end): unknown letters only [RFC 5802 section 7, extensions]. */
  extensions(stop?: string): void {
    while (this.at < this.parts.length && !(stop !== undefined && this.next(stop))) {
      const part = this.parts[this.at]!
      if (!/^[A-Za-z]=[^,\0]+$/.test(part) || KNOWN.has(part[0]!))
        throw malformed(`${this.what} has an unexpected attribute '${part.slice(0, 2)}'`)
      this.at++
    }
  }

  end(): void {
    if (this.at !== this.parts.length) throw malformed(`${this.what} has trailing data`)
  }
}

function mandatoryExtension(attrs: Attributes, what: string): void {
  // [RFC 5802 section 5.1] m= is reserved: its presence must fail authentication
  if (attrs.next('m')) throw malformed(`${what} has a mandatory extension (m=), which we do not support`)
}

function nonce(value: string, what: string): string {
  if (!NONCE.test(value)) throw malformed(`${what} nonce has a character outside %x21-7E or a comma`)
  return value
}

export function parseClientFirst(data: Buffer | undefined): ClientFirst {
  const s = text(data, 'client-first message')
  let gs2Header: string
  if (s.startsWith(GS2_HEADER)) gs2Header = GS2_HEADER
  else if (s.startsWith(GS2_HEADER_Y)) gs2Header = GS2_HEADER_Y
  else if (s.startsWith('p=')) throw malformed('channel binding (p=) is not supported')
  else if (/^[ny],a=/.test(s)) throw malformed('an authorization identity (a=) is not supported')
  else throw malformed("client-first message does not start with the GS2 header 'n,,'")
  const bare = s.slice(gs2Header.length)
  const attrs = new Attributes(bare, 'client-first message')
  mandatoryExtension(attrs, 'client-first message')
  const username = unescapeUsername(attrs.take('n'))
  const n = nonce(attrs.take('r'), 'client')
  attrs.extensions()
  attrs.end()
  return { gs2Header, username, nonce: n, bare }
}

export function formatClientFirstBare(username: string, clientNonce: string): string {
  return `n=${escapeUsername(username)},r=${clientNonce}`
}

export function parseServerFirst(data: Buffer | undefined): ServerFirst & { readonly message: string } {
  const message = text(data, 'server-first message')
  const attrs = new Attributes(message, 'server-first message')
  mandatoryExtension(attrs, 'server-first message')
  const n = nonce(attrs.take('r'), 'server')
  const salt = decodeBase64(attrs.take('s'), 'salt')
  const i = attrs.take('i')
  if (!POSITIVE_NUMBER.test(i)) throw malformed('iteration count is not a positive number')
  attrs.extensions()
  attrs.end()
  return { message, nonce: n, salt, iterations: Number(i) }
}

export function formatServerFirst(m: ServerFirst): string {
  return `r=${m.nonce},s=${m.salt.toString('base64')},i=${m.iterations}`
}

export function parseClientFinal(data: Buffer | undefined): ClientFinal {
  const s = text(data, 'client-final message')
  const attrs = new Attributes(s, 'client-final message')
  const channelBinding = decodeBase64(attrs.take('c'), 'channel binding')
  const n = nonce(attrs.take('r'), 'client-final')
  attrs.extensions('p')
  const proofAt = s.lastIndexOf(',p=')
  const proof = decodeBase64(attrs.take('p'), 'proof')
  attrs.end()
  if (proof.length !== SHA256_SIZE) throw malformed(`proof is ${proof.length} bytes, not ${SHA256_SIZE}`)
  return { channelBinding, nonce: n, proof, withoutProof: s.slice(0, proofAt) }
}

export function formatClientFinalWithoutProof(gs2Header: string, fullNonce: string): string {
  return `c=${Buffer.from(gs2Header).toString('base64')},r=${fullNonce}`
}

export function parseServerFinal(data: Buffer | undefined): ServerFinal {
  const s = text(data, 'server-final message')
  const attrs = new Attributes(s, 'server-final message')
  let result: ServerFinal
  if (attrs.next('e')) result = { ok: false, error: attrs.take('e') }
  else {
    const signature = decodeBase64(attrs.take('v'), 'server signature')
    if (signature.length !== SHA256_SIZE) throw malformed(`server signature is not ${SHA256_SIZE} bytes`)
    result = { ok: true, signature }
  }
  attrs.extensions()
  attrs.end()
  return result
}
