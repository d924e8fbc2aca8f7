import { ReasonCode } from '../protocol/constants.js'

/** Readable names of MQTT 5 reason codes (section 2.4), for error messages. */
const NAMES = new Map<number, string>([
  [0x00, 'success'],
  [0x04, 'disconnect with will message'],
  [0x10, 'no matching subscribers'],
  [0x11, 'no subscription existed'],
  [0x18, 'continue authentication'],
  [0x19, 're-authenticate'],
  [0x80, 'unspecified error'],
  [0x81, 'malformed packet'],
  [0x82, 'protocol error'],
  [0x83, 'implementation specific error'],
  [0x84, 'unsupported protocol version'],
  [0x85, 'client identifier not valid'],
  [0x86, 'bad user name or password'],
  [0x87, 'not authorized'],
  [0x88, 'server unavailable'],
  [0x89, 'server busy'],
  [0x8a, 'banned'],
  [0x8b, 'server shutting down'],
  [0x8c, 'bad authentication method'],
  [0x8d, 'keep alive timeout'],
  [0x8e, 'session taken over'],
  [0x8f, 'topic filter invalid'],
  [0x90, 'topic name invalid'],
  [0x91, 'packet identifier in use'],
  [0x92, 'packet identifier not found'],
  [0x93, 'receive maximum exceeded'],
  [0x94, 'topic alias invalid'],
  [0x95, 'packet too large'],
  [0x96, 'message rate too high'],
  [0x97, 'quota exceeded'],
  [0x98, 'administrative action'],
  [0x99, 'payload format invalid'],
  [0x9a, 'retain not supported'],
  [0x9b, 'QoS not supported'],
  [0x9c, 'use another server'],
  [0x9d, 'server moved'],
  [0x9e, 'shared subscriptions not supported'],
  [0x9f, 'connection rate exceeded'],
  [0xa0, 'maximum connect time'],
  [0xa1, 'subscription identifiers not supported'],
  [0xa2, 'wildcard subscriptions not supported'],
])

export function reasonName(code: number): string {
  return NAMES.get(code) ?? `reason code 0x${code.toString(16).padStart(2, '0')}`
}

/** A reason code of 0x80 or more is a failure [MQTT-2.4]. */
export function isFailure(code: number): boolean {
  return code >= ReasonCode.UNSPECIFIED_ERROR
}

/** Server redirection [MQTT-4.11]: the reason codes that may carry a Server Reference. */
export function isRedirect(code: number): boolean {
  return code === ReasonCode.USE_ANOTHER_SERVER || code === ReasonCode.SERVER_MOVED
}

/** CONNACK refusals a later attempt may get past (the server is busy, not refusing this client). */
export function isTransientV5Refusal(code: number): boolean {
  return (
    code === ReasonCode.SERVER_UNAVAILABLE ||
    code === ReasonCode.SERVER_BUSY ||
    code === ReasonCode.QUOTA_EXCEEDED ||
    code === ReasonCode.CONNECTION_RATE_EXCEEDED
  )
}
