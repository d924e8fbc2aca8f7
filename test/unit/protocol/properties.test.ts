/**
 * MQTT 5 properties against the table of section 2.2.2.2, restated here: every
 * property in every packet, alone and twice, decoded and encoded.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ProtocolError } from '../../../src/errors.js'
import {
  type AnyProperties,
  Decoder,
  ErrorCode,
  encode,
  type Packet,
  PacketType,
  PropertyId,
  ReasonCode,
} from '../../../src/protocol/index.js'
import { decodeChunks } from '../../helpers/decode.js'

const T = PacketType
/** The will properties of CONNECT, as a context of their own. */
const WILL = 0

/** Every place properties stand: each packet that has them, and the will. */
const CONTEXTS = [
  WILL,
  T.CONNECT,
  T.CONNACK,
  T.PUBLISH,
  T.PUBACK,
  T.PUBREC,
  T.PUBREL,
  T.PUBCOMP,
  T.SUBSCRIBE,
  T.SUBACK,
  T.UNSUBSCRIBE,
  T.UNSUBACK,
  T.DISCONNECT,
  T.AUTH,
]

/** Table 2-4: identifier, field name, a wire value, the decoded value, where it may appear. */
const TABLE: [id: number, name: keyof AnyProperties, wire: string, value: unknown, where: number[]][] = [
  [0x01, 'payloadFormatIndicator', '01', 1, [T.PUBLISH, WILL]],
  [0x02, 'messageExpiryInterval', '00000001', 1, [T.PUBLISH, WILL]],
  [0x03, 'contentType', '000161', 'a', [T.PUBLISH, WILL]],
  [0x08, 'responseTopic', '000161', 'a', [T.PUBLISH, WILL]],
  [0x09, 'correlationData', '000100', Buffer.from([0]), [T.PUBLISH, WILL]],
  [0x0b, 'subscriptionIdentifier', '01', 1, [T.PUBLISH, T.SUBSCRIBE]],
  [0x11, 'sessionExpiryInterval', '00000001', 1, [T.CONNECT, T.CONNACK, T.DISCONNECT]],
  [0x12, 'assignedClientIdentifier', '000161', 'a', [T.CONNACK]],
  [0x13, 'serverKeepAlive', '0001', 1, [T.CONNACK]],
  [0x15, 'authenticationMethod', '000161', 'a', [T.CONNECT, T.CONNACK, T.AUTH]],
  [0x16, 'authenticationData', '000100', Buffer.from([0]), [T.CONNECT, T.CONNACK, T.AUTH]],
  [0x17, 'requestProblemInformation', '01', true, [T.CONNECT]],
  [0x18, 'willDelayInterval', '00000001', 1, [WILL]],
  [0x19, 'requestResponseInformation', '01', true, [T.CONNECT]],
  [0x1a, 'responseInformation', '000161', 'a', [T.CONNACK]],
  [0x1c, 'serverReference', '000161', 'a', [T.CONNACK, T.DISCONNECT]],
  [
    0x1f,
    'reasonString',
    '000161',
    'a',
    [T.CONNACK, T.PUBACK, T.PUBREC, T.PUBREL, T.PUBCOMP, T.SUBACK, T.UNSUBACK, T.DISCONNECT, T.AUTH],
  ],
  [0x21, 'receiveMaximum', '0001', 1, [T.CONNECT, T.CONNACK]],
  [0x22, 'topicAliasMaximum', '0001', 1, [T.CONNECT, T.CONNACK]],
  [0x23, 'topicAlias', '0001', 1, [T.PUBLISH]],
  [0x24, 'maximumQoS', '01', 1, [T.CONNACK]],
  [0x25, 'retainAvailable', '01', true, [T.CONNACK]],
  [0x26, 'userProperties', '000161000162', [['a', 'b']], CONTEXTS],
  [0x27, 'maximumPacketSize', '00000001', 1, [T.CONNECT, T.CONNACK]],
  [0x28, 'wildcardSubscriptionAvailable', '01', true, [T.CONNACK]],
  [0x29, 'subscriptionIdentifiersAvailable', '01', true, [T.CONNACK]],
  [0x2a, 'sharedSubscriptionAvailable', '01', true, [T.CONNACK]],
]

function vbi(n: number): string {
  let out = ''
  do {
    let b = n & 0x7f
    n >>>= 7
    if (n > 0) b |= 0x80
    out += b.toString(16).padStart(2, '0')
  } while (n > 0)
  return out
}

const block = (props: string) => vbi(props.length / 2) + props

/** A packet of type `ctx` (WILL: a CONNECT with a will) whose property block is `props` (hex). */
function packetWith(ctx: number, props: string): Buffer {
  const mqtt5 = '00044d51545405'
  const [first, body] = (
    {
      [WILL]: ['10', `${mqtt5}06003c00000163${block(props)}0001740000`],
      [T.CONNECT]: ['10', `${mqtt5}02003c${block(props)}000163`],
      [T.CONNACK]: ['20', `0000${block(props)}`],
      [T.PUBLISH]: ['30', `000161${block(props)}`],
      [T.PUBACK]: ['40', `000100${block(props)}`],
      [T.PUBREC]: ['50', `000100${block(props)}`],
      [T.PUBREL]: ['62', `000100${block(props)}`],
      [T.PUBCOMP]: ['70', `000100${block(props)}`],
      [T.SUBSCRIBE]: ['82', `0001${block(props)}00016100`],
      [T.SUBACK]: ['90', `0001${block(props)}00`],
      [T.UNSUBSCRIBE]: ['a2', `0001${block(props)}000161`],
      [T.UNSUBACK]: ['b0', `0001${block(props)}00`],
      [T.DISCONNECT]: ['e0', `00${block(props)}`],
      [T.AUTH]: ['f0', `18${block(props)}`],
    } as Record<number, [string, string]>
  )[ctx]!
  return Buffer.from(first + vbi(body.length / 2) + body, 'hex')
}

/** The properties of a decoded packet (the will's for WILL). */
function propsOf(ctx: number, p: Packet): AnyProperties | undefined {
  if (ctx === WILL) return p.type === T.CONNECT ? p.will?.properties : undefined
  return 'properties' in p ? (p.properties as AnyProperties | undefined) : undefined
}

/**
 * Authentication Data needs an Authentication Method in CONNECT (3.1.2.11.10), and
 * an AUTH other than the empty one always has one (3.15.2.2.2).
 */
const prefix = (ctx: number, id: number) =>
  (ctx === T.CONNECT && id === 0x16) || (ctx === T.AUTH && id !== 0x15) ? '1500016d' : ''

function decode5(bytes: Buffer) {
  return decodeChunks([bytes], { protocolVersion: 5 })
}

const ctxName = (ctx: number) => (ctx === WILL ? 'will properties' : `packet type ${ctx}`)

describe('each property is accepted exactly in the packets table 2-4 lists [2.2.2.2]', () => {
  for (const [id, name, wire, value, where] of TABLE) {
    test(`${name} (0x${id.toString(16)})`, () => {
      for (const ctx of CONTEXTS) {
        const r = decode5(packetWith(ctx, prefix(ctx, id) + id.toString(16).padStart(2, '0') + wire))
        if (where.includes(ctx)) {
          assert.equal(r.error, undefined, `${name} in ${ctxName(ctx)}: ${String(r.error)}`)
          const props = propsOf(ctx, r.packets[0]!)
          // PUBLISH collects its Subscription Identifiers in an array (they may repeat)
          const field = ctx === T.PUBLISH && id === 0x0b ? 'subscriptionIdentifiers' : name
          const expected = field === 'subscriptionIdentifiers' ? [value] : value
          assert.deepEqual(props?.[field], expected, `${name} in ${ctxName(ctx)}`)
        } else {
          assert.ok(r.error instanceof ProtocolError, `${name} in ${ctxName(ctx)} is refused`)
          assert.equal(r.error.code, ErrorCode.MALFORMED_PROPERTY, `${name} in ${ctxName(ctx)}`)
          assert.equal(r.error.reasonCode, ReasonCode.MALFORMED_PACKET)
        }
      }
    })
  }

  test('the table covers every property identifier of the specification', () => {
    assert.deepEqual(
      TABLE.map(([id]) => id),
      Object.values(PropertyId).sort((a, b) => a - b),
    )
  })
})

describe('a property twice is a Protocol Error, but for User Property and Subscription Identifier in PUBLISH [2.2.2.2]', () => {
  for (const [id, name, wire, , where] of TABLE) {
    test(`${name} (0x${id.toString(16)}) twice`, () => {
      for (const ctx of where) {
        const one = id.toString(16).padStart(2, '0') + wire
        const r = decode5(packetWith(ctx, prefix(ctx, id) + one + one))
        const mayRepeat = id === PropertyId.USER_PROPERTY || (id === 0x0b && ctx === T.PUBLISH)
        if (mayRepeat) {
          assert.equal(r.error, undefined, `${name} twice in ${ctxName(ctx)}`)
        } else {
          assert.ok(r.error instanceof ProtocolError, `${name} twice in ${ctxName(ctx)}`)
          assert.equal(r.error.code, ErrorCode.DUPLICATE_PROPERTY)
          assert.equal(r.error.reasonCode, ReasonCode.PROTOCOL_ERROR)
        }
      }
    })
  }
})

describe('each property encodes back to the bytes it was decoded from', () => {
  for (const [id, name, wire, , where] of TABLE) {
    test(`${name} (0x${id.toString(16)})`, () => {
      for (const ctx of where) {
        const bytes = packetWith(ctx, prefix(ctx, id) + id.toString(16).padStart(2, '0') + wire)
        const r = decode5(bytes)
        assert.equal(r.error, undefined)
        assert.ok(encode(r.packets[0]!, 5).equals(bytes), `${name} in ${ctxName(ctx)}`)
      }
    })
  }
})

describe('the encoder refuses properties the packet may not carry, and values out of range', () => {
  const refuses = (packet: Packet, code: string, what: string) =>
    assert.throws(
      () => encode(packet, 5),
      (e) => e instanceof ProtocolError && e.code === code,
      what,
    )

  test('a CONNECT property on a PUBLISH [2.2.2.2]', () => {
    const p = {
      type: T.PUBLISH,
      topic: 'a',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
      packetId: 0,
    }
    refuses(
      { ...p, properties: { sessionExpiryInterval: 1 } as never } as Packet,
      ErrorCode.MALFORMED_PROPERTY,
      'sessionExpiryInterval',
    )
    refuses(
      { ...p, properties: { topicAlias: 0 } } as Packet,
      ErrorCode.TOPIC_ALIAS_INVALID,
      'Topic Alias 0 [MQTT-3.3.2-8]',
    )
    refuses(
      { ...p, properties: { subscriptionIdentifiers: [0] } } as Packet,
      ErrorCode.INVALID_PROPERTY_VALUE,
      'Subscription Identifier 0 [3.3.2.3.8]',
    )
    refuses(
      { ...p, properties: { payloadFormatIndicator: 2 as 1 } } as Packet,
      ErrorCode.MALFORMED_PROPERTY,
      'Payload Format Indicator 2',
    )
  })

  test('an empty topic name without a Topic Alias [3.3.2.1]', () => {
    refuses(
      {
        type: T.PUBLISH,
        topic: '',
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
        packetId: 0,
      },
      ErrorCode.MALFORMED_TOPIC,
      'empty topic',
    )
  })

  test('values out of range in CONNECT and CONNACK', () => {
    const c = {
      type: T.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 5,
      clean: true,
      keepalive: 0,
      clientId: 'a',
    } as const
    refuses(
      { ...c, properties: { receiveMaximum: 0 } },
      ErrorCode.INVALID_PROPERTY_VALUE,
      'Receive Maximum 0',
    )
    refuses(
      { ...c, properties: { maximumPacketSize: 0 } },
      ErrorCode.INVALID_PROPERTY_VALUE,
      'Maximum Packet Size 0',
    )
    refuses(
      { ...c, properties: { receiveMaximum: 65_536 } },
      ErrorCode.MALFORMED_PROPERTY,
      'Receive Maximum 65536',
    )
    refuses(
      { type: T.CONNACK, sessionPresent: false, returnCode: 0, properties: { maximumQoS: 2 as 1 } },
      ErrorCode.MALFORMED_PROPERTY,
      'Maximum QoS 2',
    )
  })

  test('reason codes the packet type does not define [MQTT-3.4.2-1] [MQTT-3.14.2-1] [MQTT-3.15.2-1]', () => {
    refuses({ type: T.PUBACK, packetId: 1, reasonCode: 0x92 }, ErrorCode.INVALID_REASON_CODE, 'PUBACK 0x92')
    refuses({ type: T.DISCONNECT, reasonCode: 0x18 }, ErrorCode.INVALID_REASON_CODE, 'DISCONNECT 0x18')
    refuses({ type: T.AUTH, reasonCode: 0x87 }, ErrorCode.INVALID_REASON_CODE, 'AUTH 0x87')
    refuses(
      { type: T.CONNACK, sessionPresent: false, returnCode: 1 },
      ErrorCode.INVALID_REASON_CODE,
      'CONNACK 1',
    )
    refuses({ type: T.SUBACK, packetId: 1, granted: [0x11] }, ErrorCode.INVALID_REASON_CODE, 'SUBACK 0x11')
    refuses(
      { type: T.UNSUBACK, packetId: 1, reasonCodes: [] },
      ErrorCode.INVALID_PACKET,
      'UNSUBACK without codes',
    )
  })
})

describe('short forms', () => {
  test('the encoder writes an ack with reason 0x00 and no properties as the 3.1.1 form [3.4.2.1]', () => {
    for (const [type, first] of [
      [T.PUBACK, 0x40],
      [T.PUBREC, 0x50],
      [T.PUBREL, 0x62],
      [T.PUBCOMP, 0x70],
    ] as const) {
      assert.deepEqual([...encode({ type, packetId: 9 }, 5)], [first, 2, 0, 9])
      assert.deepEqual([...encode({ type, packetId: 9, reasonCode: 0, properties: {} }, 5)], [first, 2, 0, 9])
    }
  })

  test('DISCONNECT and AUTH with reason 0x00 and no properties have remaining length 0 [3.14.2.1] [3.15.2.1]', () => {
    assert.deepEqual([...encode({ type: T.DISCONNECT }, 5)], [0xe0, 0])
    assert.deepEqual([...encode({ type: T.AUTH, reasonCode: 0 }, 5)], [0xf0, 0])
    assert.deepEqual([...encode({ type: T.DISCONNECT, reasonCode: 0x8e }, 5)], [0xe0, 1, 0x8e])
  })
})

describe('allocation is bounded by the packet', () => {
  test('a v5 PUBLISH with property length 0 carries no properties object', () => {
    const r = decode5(Buffer.from('30050001610068', 'hex'))
    assert.equal(r.error, undefined)
    assert.equal('properties' in r.packets[0]!, false)
  })

  test('thousands of user properties inside the limit decode, in order', () => {
    const n = 10_000
    const props = `${'2600000000'.repeat(n - 1)}26000161000162`
    const r = decodeChunks([packetWith(T.PUBLISH, props)], { protocolVersion: 5, maxPacketSize: 60_000 })
    assert.equal(r.error, undefined)
    const up = (r.packets[0] as { properties: AnyProperties }).properties.userProperties!
    assert.equal(up.length, n)
    assert.deepEqual(up[n - 1], ['a', 'b'])
  })

  test('a PUBLISH whose properties pass maxPacketSize is refused with 0x95 before any of it is buffered', () => {
    const bytes = packetWith(T.PUBLISH, '2600000000'.repeat(100_000))
    const d = new Decoder(() => assert.fail('no packet'), { protocolVersion: 5, maxPacketSize: 1000 })
    assert.throws(
      () => d.push(bytes.subarray(0, 10)),
      (e) => e instanceof ProtocolError && e.code === ErrorCode.PACKET_TOO_LARGE && e.reasonCode === 0x95,
    )
    assert.equal(d.buffered, 0)
  })

  test('a property length larger than the packet is refused, not trusted', () => {
    // property length 268435455 in a packet of a few bytes
    const r = decode5(Buffer.from('3008000161ffffff7f00', 'hex'))
    assert.ok(r.error instanceof ProtocolError)
    assert.equal(r.error.code, ErrorCode.TRUNCATED)
  })
})
