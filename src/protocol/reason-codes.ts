import { PacketType } from './constants.js'
import { ErrorCode, protocolError } from './errors.js'

/**
 * The MQTT 5 reason codes each packet type may carry (sections 3.2.2.2, 3.4.2.1,
 * 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
 */
const CODES: Record<number, readonly number[]> = {
  [PacketType.CONNACK]: [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99,
    0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
  ],
  [PacketType.PUBACK]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.PUBREC]: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  [PacketType.PUBREL]: [0x00, 0x92],
  [PacketType.PUBCOMP]: [0x00, 0x92],
  [PacketType.SUBACK]: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  [PacketType.UNSUBACK]: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  [PacketType.DISCONNECT]: [
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ],
  [PacketType.AUTH]: [0x00, 0x18, 0x19],
}

/** 256-entry bitmaps: ALLOWED[type][code] is 1 when `type` may carry `code`. */
const ALLOWED: Uint8Array[] = []
for (const [type, codes] of Object.entries(CODES)) {
  const map = new Uint8Array(256)
  for (const c of codes) map[c] = 1
  ALLOWED[Number(type)] = map
}

/** The statement that each packet type's sender use only its own reason codes. */
const RULE: Record<number, string> = {
  [PacketType.CONNACK]: 'MQTT-3.2.2-8',
  [PacketType.PUBACK]: 'MQTT-3.4.2-1',
  [PacketType.PUBREC]: 'MQTT-3.5.2-1',
  [PacketType.PUBREL]: 'MQTT-3.6.2-1',
  [PacketType.PUBCOMP]: 'MQTT-3.7.2-1',
  [PacketType.SUBACK]: 'MQTT-3.9.3-2',
  [PacketType.UNSUBACK]: 'MQTT-3.11.3-2',
  [PacketType.DISCONNECT]: 'MQTT-3.14.2-1',
  [PacketType.AUTH]: 'MQTT-3.15.2-1',
}

export function isReasonCodeOf(type: number, code: number): boolean {
  return ALLOWED[type]?.[code] === 1
}

/** Throws a Malformed Packet error unless `type` may carry `code`. */
export function checkReasonCode(type: number, code: number): void {
  if (ALLOWED[type]?.[code] !== 1) {
    throw protocolError(
      ErrorCode.INVALID_REASON_CODE,
      `reason code 0x${code.toString(16)} is not defined for packet type ${type}`,
      RULE[type] ?? '',
    )
  }
}
