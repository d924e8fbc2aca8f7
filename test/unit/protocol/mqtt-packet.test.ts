/**
 * Cross-check with mqtt-packet (MQTT.js's codec) at MQTT 5: packets it generates
 * decode with ours to the same content, and ours decode with it. Two readings of
 * the specification written apart: where they disagree, one of them misread it.
 *
 * mqtt-packet keeps user properties as an object of name -> value(s), so their
 * order across different names is not kept: they are compared grouped by name.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { generate, parser, type Packet as TheirPacket } from 'mqtt-packet'
import {
  encode,
  PACKET_NAMES,
  type Packet,
  PacketType,
  type UserProperties,
} from '../../../src/protocol/index.js'
import * as arb5 from '../../helpers/arbitraries5.js'
import { decodeChunks } from '../../helpers/decode.js'
import { loadVectors } from '../../helpers/vectors.js'

type Obj = Record<string, unknown>

function groupUserProperties(up: UserProperties): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const [k, v] of up) {
    const had = out[k]
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v]
  }
  return out
}

/** Our properties in mqtt-packet's form. */
function theirProps(p: Obj | undefined): Obj | undefined {
  if (p === undefined) return undefined
  const out: Obj = { ...p }
  if (p.userProperties) out.userProperties = groupUserProperties(p.userProperties as UserProperties)
  if (p.payloadFormatIndicator !== undefined) out.payloadFormatIndicator = p.payloadFormatIndicator === 1
  if (p.subscriptionIdentifiers !== undefined) {
    out.subscriptionIdentifier = p.subscriptionIdentifiers
    delete out.subscriptionIdentifiers
  }
  return out
}

/** mqtt-packet's properties in our form (user properties grouped by name: see view()). */
function ourProps(p: Obj | undefined, type: number): Obj | undefined {
  if (p === undefined || Object.keys(p).length === 0) return undefined
  const out: Obj = { ...p }
  if (p.userProperties !== undefined) {
    const up: UserProperties = []
    for (const [k, v] of Object.entries(p.userProperties as Obj)) {
      for (const x of Array.isArray(v) ? v : [v]) up.push([k, x as string])
    }
    out.userProperties = up
  }
  if (typeof p.payloadFormatIndicator === 'boolean')
    out.payloadFormatIndicator = p.payloadFormatIndicator ? 1 : 0
  // in PUBLISH they may repeat: our subscriptionIdentifiers is always an array
  if (type === PacketType.PUBLISH && p.subscriptionIdentifier !== undefined) {
    const ids = p.subscriptionIdentifier
    out.subscriptionIdentifiers = Array.isArray(ids) ? ids : [ids]
    delete out.subscriptionIdentifier
  }
  return out
}

function toTheirs(p: Packet): TheirPacket {
  const cmd = PACKET_NAMES[p.type]!.toLowerCase()
  const o: Obj = { cmd }
  const q = p as unknown as Obj
  if ('properties' in p && p.properties !== undefined) o.properties = theirProps(p.properties as Obj)
  switch (p.type) {
    case PacketType.CONNECT:
      Object.assign(o, {
        protocolId: 'MQTT',
        protocolVersion: 5,
        clean: p.clean,
        keepalive: p.keepalive,
        clientId: p.clientId,
      })
      if (p.username !== undefined) o.username = p.username
      if (p.password !== undefined) o.password = p.password
      if (p.will) o.will = { ...p.will, properties: theirProps(p.will.properties as Obj | undefined) }
      break
    case PacketType.CONNACK:
      Object.assign(o, { sessionPresent: p.sessionPresent, reasonCode: p.returnCode })
      break
    case PacketType.PUBLISH:
      Object.assign(o, { topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup })
      if (p.qos > 0) o.messageId = p.packetId
      break
    case PacketType.SUBSCRIBE:
      o.messageId = p.packetId
      o.subscriptions = p.subscriptions.map((s) => ({
        topic: s.topic,
        qos: s.qos,
        nl: s.noLocal,
        rap: s.retainAsPublished,
        rh: s.retainHandling,
      }))
      break
    case PacketType.SUBACK:
      Object.assign(o, { messageId: p.packetId, granted: p.granted })
      break
    case PacketType.UNSUBSCRIBE:
      Object.assign(o, { messageId: p.packetId, unsubscriptions: p.topics })
      break
    case PacketType.UNSUBACK:
      Object.assign(o, { messageId: p.packetId, granted: p.reasonCodes })
      break
    default:
      if ('packetId' in p) o.messageId = p.packetId
      if (q.reasonCode !== undefined) o.reasonCode = q.reasonCode
  }
  return o as unknown as TheirPacket
}

/** What mqtt-packet parsed, in our form. */
function fromTheirs(t: Obj): Obj {
  const type = PACKET_NAMES.indexOf((t.cmd as string).toUpperCase())
  const o: Obj = { type }
  const props = ourProps(t.properties as Obj | undefined, type)
  switch (type) {
    case PacketType.CONNECT: {
      Object.assign(o, {
        protocolName: t.protocolId,
        protocolVersion: t.protocolVersion,
        clean: t.clean,
        keepalive: t.keepalive,
        clientId: t.clientId,
      })
      if (t.username !== undefined) o.username = t.username
      if (t.password !== undefined) o.password = t.password
      const w = t.will as Obj | undefined
      if (w) {
        const will: Obj = { topic: w.topic, payload: w.payload, qos: w.qos, retain: w.retain }
        const wp = ourProps(w.properties as Obj | undefined, 0)
        if (wp) will.properties = wp
        o.will = will
      }
      break
    }
    case PacketType.CONNACK:
      Object.assign(o, { sessionPresent: t.sessionPresent, returnCode: t.reasonCode })
      break
    case PacketType.PUBLISH:
      Object.assign(o, {
        topic: t.topic,
        payload: t.payload,
        qos: t.qos,
        retain: t.retain,
        dup: t.dup,
        packetId: t.qos === 0 ? 0 : t.messageId,
      })
      break
    case PacketType.SUBSCRIBE:
      o.packetId = t.messageId
      o.subscriptions = (t.subscriptions as Obj[]).map((s) => ({
        topic: s.topic,
        qos: s.qos,
        noLocal: s.nl,
        retainAsPublished: s.rap,
        retainHandling: s.rh,
      }))
      break
    case PacketType.SUBACK:
      Object.assign(o, { packetId: t.messageId, granted: t.granted })
      break
    case PacketType.UNSUBSCRIBE:
      Object.assign(o, { packetId: t.messageId, topics: t.unsubscriptions })
      break
    case PacketType.UNSUBACK:
      Object.assign(o, { packetId: t.messageId, reasonCodes: t.granted })
      break
    default:
      if (t.messageId !== undefined) o.packetId = t.messageId
      if (t.reasonCode !== undefined) o.reasonCode = t.reasonCode
  }
  if (props) o.properties = props
  return o
}

/**
 * The content compared: user properties as the set of values of each name
 * (mqtt-packet drops a pair whose value is empty when the name came before: it
 * tests values for truthiness), and a reason code 0x00 with no properties left
 * out (it is what an absent one means).
 */
function view(p: Obj): Obj {
  const out: Obj = { ...p }
  const set = (up: UserProperties) => {
    const by: Record<string, string[]> = {}
    for (const [k, v] of up) {
      const values = (by[k] ??= [])
      if (!values.includes(v)) values.push(v)
    }
    for (const values of Object.values(by)) values.sort()
    return by
  }
  const group = (props: Obj | undefined) =>
    props?.userProperties ? { ...props, userProperties: set(props.userProperties as UserProperties) } : props
  if (out.properties !== undefined) out.properties = group(out.properties as Obj)
  if (out.will !== undefined) {
    const w = { ...(out.will as Obj) }
    if (w.properties !== undefined) w.properties = group(w.properties as Obj)
    out.will = w
  }
  if (out.reasonCode === 0 && out.properties === undefined) delete out.reasonCode
  return out
}

function theirParse(bytes: Buffer): Obj[] {
  const got: Obj[] = []
  const errors: Error[] = []
  const p = parser({ protocolVersion: 5 })
  p.on('packet', (x) => got.push(x as unknown as Obj))
  p.on('error', (e) => errors.push(e))
  p.parse(bytes)
  if (errors.length > 0) throw errors[0]
  return got
}

function ourDecode(bytes: Buffer): Packet {
  const r = decodeChunks([bytes], { protocolVersion: 5 })
  if (r.error !== undefined) throw r.error
  assert.equal(r.packets.length, 1)
  return r.packets[0]!
}

/**
 * User properties mqtt-packet's object form can hold: it tests values for
 * truthiness (an empty value after one of the same name is lost) and keeps names
 * on a plain object (a name such as 'valueOf' is taken for the inherited method).
 */
function userPropertiesItCanHold(p: Packet): boolean {
  const ok = (props: unknown) =>
    ((props as Obj | undefined)?.userProperties as UserProperties | undefined)?.every(
      ([k, v]) => v !== '' && !(k in Object.prototype),
    ) ?? true
  return ok((p as unknown as Obj).properties) && (p.type !== PacketType.CONNECT || ok(p.will?.properties))
}

/** Vectors mqtt-packet 9 reads otherwise than the specification, and why. */
const MQTT_PACKET_DEVIATES: Record<string, string> = {
  'v5 AUTH of remaining length 0: Success': 'refuses AUTH of remaining length 0 (allowed by 3.15.2.1)',
}

describe('cross-check with mqtt-packet at MQTT 5', () => {
  test('what we encode, mqtt-packet parses to the same content', () => {
    fc.assert(
      fc.property(arb5.packet5, (p) => {
        // mqtt-packet refuses AUTH of remaining length 0 (allowed by 3.15.2.1)
        fc.pre(!(p.type === PacketType.AUTH && p.reasonCode === undefined))
        fc.pre(userPropertiesItCanHold(p))
        const got = theirParse(encode(p, 5))
        assert.equal(got.length, 1)
        assert.deepEqual(view(fromTheirs(got[0]!)), view(p as unknown as Obj))
      }),
      { numRuns: 1000 },
    )
  })

  test('what mqtt-packet generates, we decode to the same content', () => {
    fc.assert(
      fc.property(arb5.packet5, (p) => {
        fc.pre(userPropertiesItCanHold(p))
        // mqtt-packet keeps two 3.1.1 rules at level 5: no empty client id with Clean Start 0
        // ([MQTT-3.1.3-7] of 3.1.1) and no password without a user name ([MQTT-3.1.2-22] of 3.1.1)
        fc.pre(
          !(
            p.type === PacketType.CONNECT &&
            ((!p.clean && p.clientId === '') || (p.password && !p.username))
          ),
        )
        // mqtt-packet writes an AUTH without properties as reason code + property length 0, an AUTH
        // without its Authentication Method, which we refuse as a Protocol Error (3.15.2.2.2)
        fc.pre(!(p.type === PacketType.AUTH && p.properties?.authenticationMethod === undefined))
        const bytes = generate(toTheirs(p), { protocolVersion: 5 })
        assert.deepEqual(view(ourDecode(bytes) as unknown as Obj), view(p as unknown as Obj))
      }),
      { numRuns: 1000 },
    )
  })

  test('every valid MQTT 5 vector parses with mqtt-packet to the content we decode', () => {
    for (const v of loadVectors().valid.filter((x) => x.version === 5)) {
      if (MQTT_PACKET_DEVIATES[v.name] !== undefined) continue
      const got = theirParse(v.bytes)
      assert.equal(got.length, 1, v.name)
      assert.deepEqual(view(fromTheirs(got[0]!)), view(v.packet as unknown as Obj), v.name)
    }
  })
})
