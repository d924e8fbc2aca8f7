/**
 * MQTT 5 SUBSCRIBE on the wire: subscription options (No Local, Retain As Published,
 * Retain Handling), Subscription Identifiers on delivery, SUBACK and UNSUBACK reason
 * codes, shared subscriptions for v5 clients next to 3.1.1 ones.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PacketType, type PublishPacket, ReasonCode, type Subscription } from '../../../src/protocol/index.js'
import { type RawClient, startBroker, uniqueId } from '../../helpers/raw-client.js'

const tb = await startBroker({
  // as the Paho interoperability suite runs it
  authorizeSubscribe: (_c, filter) =>
    filter === 'test/nosubscribe' ? false : filter.endsWith('/quota') ? 0x97 : true,
})

const v5 = (): Promise<RawClient> => tb.connect({ protocolVersion: 5 })

/** PUBLISHes that arrive (QoS 1 acknowledged): up to 2 s for the first, then until 200 ms pass quiet. */
async function received(c: RawClient, quietMs = 200): Promise<PublishPacket[]> {
  const out: PublishPacket[] = []
  for (;;) {
    let p: PublishPacket
    try {
      p = await c.next(PacketType.PUBLISH, out.length === 0 ? 2000 : quietMs)
    } catch {
      return out
    }
    out.push(p)
    if (p.qos === 1) c.send({ type: PacketType.PUBACK, packetId: p.packetId })
  }
}

async function subscribe(
  c: RawClient,
  subs: Subscription[],
  subscriptionIdentifier?: number,
): Promise<number[]> {
  const props = subscriptionIdentifier === undefined ? undefined : { subscriptionIdentifier }
  return (await c.subscribe(subs, 0, undefined, props)).granted
}

async function publishAcked(c: RawClient, topic: string, payload: string, retain = false): Promise<void> {
  const id = c.publish(topic, payload, { qos: 1, retain })
  assert.equal((await c.next(PacketType.PUBACK)).packetId, id)
}

test('SUBACK reason codes: granted QoS, 0x8F Topic Filter invalid, 0x80 for a refusal, a hook’s own code [MQTT-3.9.3-1] [MQTT-3.8.4-6]', async () => {
  const c = await v5()
  const granted = await subscribe(c, [
    { topic: 'ok/2', qos: 2 },
    { topic: 'bad/#/x', qos: 1 },
    { topic: '$share/g', qos: 1 },
    { topic: 'test/nosubscribe', qos: 1 },
    { topic: 'a/quota', qos: 0 },
  ])
  assert.deepEqual(granted, [
    2,
    ReasonCode.TOPIC_FILTER_INVALID,
    ReasonCode.TOPIC_FILTER_INVALID,
    ReasonCode.UNSPECIFIED_ERROR,
    ReasonCode.QUOTA_EXCEEDED,
  ])
  // the same refusals are 0x80 for a 3.1.1 client [MQTT-3.9.3-2]
  const old = await tb.connect()
  const ack = await old.subscribe([
    { topic: 'bad/#/x', qos: 1 },
    { topic: 'a/quota', qos: 1 },
  ])
  assert.deepEqual(ack.granted, [0x80, 0x80])
})

test('UNSUBACK reason codes: 0x00 Success, 0x11 No subscription existed [MQTT-3.11.3-1]', async () => {
  const c = await v5()
  const t = uniqueId('unsub')
  await subscribe(c, [{ topic: t, qos: 1 }])
  c.send({ type: PacketType.UNSUBSCRIBE, packetId: 77, topics: [t, t, `$share/g/${t}`] })
  const ack = await c.next(PacketType.UNSUBACK)
  assert.equal(ack.packetId, 77)
  assert.deepEqual(ack.reasonCodes, [ReasonCode.SUCCESS, ReasonCode.NO_SUBSCRIPTION_EXISTED, 0x11])
})

test('No Local: a client’s own messages are not sent back to it; others get them [MQTT-3.8.3-3]', async () => {
  const t = uniqueId('nolocal')
  const a = await v5()
  const b = await v5()
  await subscribe(a, [{ topic: t, qos: 1, noLocal: true }])
  await subscribe(b, [{ topic: t, qos: 1, noLocal: true }])
  await publishAcked(a, t, 'from a')
  assert.deepEqual(
    (await received(b)).map((p) => p.payload.toString()),
    ['from a'],
  )
  await a.nothingFor(200)
})

test('Retain As Published: RETAIN as published when set, 0 otherwise [MQTT-3.3.1-12] [MQTT-3.3.1-13]', async () => {
  const t = uniqueId('rap')
  const rap = await v5()
  const plain = await v5()
  await subscribe(rap, [{ topic: t, qos: 1, retainAsPublished: true }])
  await subscribe(plain, [{ topic: t, qos: 1 }])
  const p = await v5()
  await publishAcked(p, t, 'not retained')
  await publishAcked(p, t, 'retained', true)
  for (const [c, flags] of [
    [rap, [false, true]],
    [plain, [false, false]],
  ] as const) {
    assert.deepEqual(
      (await received(c)).map((m) => m.retain),
      flags,
    )
  }
  // retained messages sent because of a new subscription have RETAIN 1 whatever the option (3.3.1.3)
  const late = await v5()
  await subscribe(late, [{ topic: t, qos: 1, retainAsPublished: false }])
  assert.deepEqual(
    (await received(late)).map((m) => [m.payload.toString(), m.retain]),
    [['retained', true]],
  )
})

test('Retain Handling 0 sends retained messages on every SUBSCRIBE, 1 only for a new subscription, 2 never [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]', async () => {
  const t = uniqueId('rh')
  const p = await v5()
  await publishAcked(p, `${t}/x`, 'kept', true)
  const c = await v5()
  const count = async (rh: 0 | 1 | 2): Promise<number> => {
    await subscribe(c, [{ topic: `${t}/+`, qos: 1, retainHandling: rh }])
    return (await received(c)).length
  }
  assert.equal(await count(1), 1, 'new subscription')
  assert.equal(await count(1), 0, 'the subscription existed')
  assert.equal(await count(0), 1)
  assert.equal(await count(0), 1)
  assert.equal(await count(2), 0)
})

test('Subscription Identifiers: one PUBLISH carrying the identifiers of every matching subscription [MQTT-3.3.4-3] [MQTT-3.3.4-4]', async () => {
  const t = uniqueId('subid')
  const a = await v5()
  await subscribe(a, [{ topic: t, qos: 1 }], 456_789)
  const b = await v5()
  await subscribe(b, [{ topic: t, qos: 1 }], 2)
  await subscribe(b, [{ topic: `${t}/#`, qos: 1 }], 3)
  await subscribe(b, [{ topic: `${t}/+`, qos: 1 }]) // matches nothing here, carries no identifier
  const p = await v5()
  await publishAcked(p, t, 'ids')
  const [ma] = await received(a)
  assert.deepEqual(ma!.properties?.subscriptionIdentifiers, [456_789])
  const mb = await received(b)
  assert.equal(mb.length, 1, 'one copy for overlapping subscriptions [MQTT-3.3.4-2]')
  assert.deepEqual([...mb[0]!.properties!.subscriptionIdentifiers!].sort(), [2, 3])
  // a new SUBSCRIBE to the same filter replaces the identifier [MQTT-3.8.4-3]
  await subscribe(a, [{ topic: t, qos: 1 }])
  await publishAcked(p, t, 'no id')
  assert.equal((await received(a))[0]!.properties?.subscriptionIdentifiers, undefined)
})

test('a retained message sent on subscribe carries that subscription’s identifier [MQTT-3.3.4-3]', async () => {
  const t = uniqueId('subid-retained')
  const p = await v5()
  await publishAcked(p, t, 'kept', true)
  const c = await v5()
  await subscribe(c, [{ topic: t, qos: 1 }], 11)
  const [m] = await received(c)
  assert.deepEqual([m!.retain, m!.properties?.subscriptionIdentifiers], [true, [11]])
})

test('shared subscriptions mix v5 and 3.1.1 members; a v5 member gets its identifier [MQTT-4.8.2-3]', async () => {
  const t = uniqueId('mixed')
  const m5 = await v5()
  const m3 = await tb.connect()
  await subscribe(m5, [{ topic: `$share/g/${t}`, qos: 1 }], 8)
  await m3.subscribe(`$share/g/${t}`, 1)
  const p = await v5()
  for (let i = 0; i < 4; i++) await publishAcked(p, t, `m${i}`)
  const [r5, r3] = await Promise.all([received(m5), received(m3)])
  assert.equal(r5.length + r3.length, 4)
  assert.equal(r5.length, 2, 'in turn')
  for (const m of r5) assert.deepEqual(m.properties?.subscriptionIdentifiers, [8])
})

test('No Local on a shared subscription is a protocol error: DISCONNECT 0x82 [MQTT-3.8.3-4]', async () => {
  const c = await v5()
  // raw bytes: our encoder will not write this SUBSCRIBE. Options 0x05: QoS 1, No Local
  c.sendRaw(`82 10 0001 00 000a ${Buffer.from('$share/g/t').toString('hex')} 05`)
  const d = await c.next(PacketType.DISCONNECT)
  assert.equal(d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  await c.closed()
})

test('a shared member answering PUBACK 0x80 has the message discarded, not sent to another member [MQTT-4.8.2-6]', async () => {
  const t = uniqueId('refused')
  const a = await v5()
  const b = await v5()
  await subscribe(a, [{ topic: `$share/g/${t}`, qos: 1 }])
  await subscribe(b, [{ topic: `$share/g/${t}`, qos: 1 }])
  const p = await v5()
  await publishAcked(p, t, 'first')
  // the first member in turn gets it, refuses it, then leaves
  const m = await a.next(PacketType.PUBLISH)
  a.send({ type: PacketType.PUBACK, packetId: m.packetId, reasonCode: ReasonCode.UNSPECIFIED_ERROR })
  await a.disconnect()
  await b.nothingFor(300)
})
