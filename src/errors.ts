/**
 * Typed errors. Every error a caller may handle has a stable string `code`;
 * protocol errors also carry the MQTT statement id they enforce and, where the
 * spec names one, the CONNACK return code to answer with.
 */
export class PetrelError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Malformed input or a broken protocol rule: the connection it came from must be closed. */
export class ProtocolError extends PetrelError {
  /** Normative statement id, e.g. `MQTT-3.3.1-4`, or '' when the rule has no id. */
  readonly rule: string
  /** CONNACK return code the server must answer with before closing, if the spec names one. */
  readonly returnCode: number | undefined
  /**
   * MQTT 5 reason code for this error: the DISCONNECT (or, for a CONNECT, the CONNACK)
   * reason to send before closing: 0x81 Malformed Packet, 0x82 Protocol Error,
   * 0x95 Packet too large, 0x94 Topic Alias invalid, 0x84 Unsupported Protocol Version...
   */
  readonly reasonCode: number | undefined
  constructor(code: string, message: string, rule = '', returnCode?: number, reasonCode?: number) {
    super(code, rule ? `${message} [${rule}]` : message)
    this.rule = rule
    this.returnCode = returnCode
    this.reasonCode = reasonCode
  }
}

/** A bad option or flag from a user. The message is one line that says what to fix. */
export class ConfigError extends PetrelError {
  readonly option: string
  constructor(option: string, message: string) {
    super('PETREL_CONFIG', message)
    this.option = option
  }
}
