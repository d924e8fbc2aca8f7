/**
 * MQTT 5 CONNECT and CONNACK (sections 3.1 and 3.2) on the broker, statement by
 * statement: malformed CONNECTs at level 5 are refused, the payload is read in its
 * order, wills keep their retain flag, and the CONNACK is first, alone and well formed.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encode, type Packet, PacketType, ReasonCode } from '../../../src/protocol/index.js'
import {
  type ConnectOptions,
  connectPacket,
  hex,
  type RawClient,
  startBroker,
  uniqueId,
} from '../../helpers/raw-client.js'

const seen: { username: string | undefined; password: string | undefined }[] = []
const tb = await startBroker({
  authenticate: (client, username, password) => {
    seen.push({ username, password: password?.toString() })
    if (username === 'bad') return false
    if (client.id.startsWith('refuse-id')) return ReasonCode.CLIENT_IDENTIFIER_NOT_VALID
    return true
  },
  authorizePublish: (_c, topic) => !topic.startsWith('forbidden/'),
  authorizeSubscribe: (_c, filter) => !filter.startsWith('forbidden/'),
})
const v5 = (o: ConnectOptions = {}): Promise<RawClient> => tb.connect({ protocolVersion: 5, ...o })

/** The broker closes the connection, sending at most a CONNACK of 0x80 or above first. */
async function refusedConnect(c: RawClient): Promise<void> {
  await c.closed()
  let p: Packet | undefined
  while ((p = await c.next(undefined, 10).catch(() => undefined)) !== undefined) {
    assert.equal(p.type, PacketType.CONNACK, `only a CONNACK may come before the close, got ${p.type}`)
    assert.ok(p.type === PacketType.CONNACK && p.returnCode >= 0x80 && !p.sessionPresent)
  }
}

/** A raw level-5 CONNECT: flags, then the payload after the client id "a". */
function rawConnect(flags: number, rest = '', name = '4d 51 54 54'): Buffer {
  const body = Buffer.concat([
    hex(`00 04 ${name} 05`),
    Buffer.from([flags]),
    hex('00 00 00 00 01 61'),
    hex(rest),
  ])
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

test('the first packet must be CONNECT: a PINGREQ first is answered by a close [MQTT-3.1.0-1]', async () => {
  const c = await tb.open()
  c.sendRaw('c0 00')
  await c.closed(1000, false)
})

test('a level-5 CONNECT naming a protocol other than "MQTT" is refused [MQTT-3.1.2-1]', async () => {
  const c = await tb.open()
  c.sendRaw(rawConnect(0x02, '', '4d 51 54 58'))
  await refusedConnect(c)
})

test('the CONNECT reserved flag must be 0 [MQTT-3.1.2-3]', async () => {
  const c = await tb.open()
  c.sendRaw(rawConnect(0x03))
  await refusedConnect(c)
})

test('connect flags and payload must agree, else the CONNECT is refused [MQTT-3.1.2-9] [MQTT-3.1.2-11] [MQTT-3.1.2-12] [MQTT-3.1.2-13] [MQTT-3.1.2-16] [MQTT-3.1.2-17] [MQTT-3.1.2-18] [MQTT-3.1.2-19]', async () => {
  const cases: [string, Buffer][] = [
    ['will flag without will fields', rawConnect(0x06)],
    ['will QoS 1 without will flag', rawConnect(0x0a)],
    ['will QoS 3', rawConnect(0x1e, '00 00 01 74 00 00')],
    ['will retain without will flag', rawConnect(0x22)],
    ['a user name with user name flag 0', rawConnect(0x02, '00 01 75')],
    ['user name flag 1 without a user name', rawConnect(0x82)],
    ['a password with password flag 0', rawConnect(0x82, '00 01 75 00 01 70')],
    ['password flag 1 without a password', rawConnect(0xc2, '00 01 75')],
  ]
  for (const [what, bytes] of cases) {
    const c = await tb.open()
    c.sendRaw(bytes)
    await refusedConnect(c).catch((e: Error) => assert.fail(`${what}: ${e.message}`))
  }
})

test('the payload is read in order: client id, will properties, will topic, will payload, user name, password [MQTT-3.1.3-1]', async () => {
  const topic = `order/${uniqueId()}`
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const c = await v5({
    clientId: `order-${uniqueId()}`,
    username: 'user-name',
    password: Buffer.from('pass-word'),
    will: {
      topic,
      payload: Buffer.from('will-payload'),
      qos: 0,
      retain: false,
      properties: { contentType: 'will/type' },
    },
  })
  assert.deepEqual(seen.at(-1), { username: 'user-name', password: 'pass-word' })
  c.destroy()
  const m = await sub.next(PacketType.PUBLISH)
  assert.deepEqual(
    [m.topic, m.payload.toString(), m.properties?.contentType],
    [topic, 'will-payload', 'will/type'],
  )
})

test('the client id names the session: the same id resumes it, another id does not [MQTT-3.1.3-2]', async () => {
  const id = uniqueId('sess')
  const topic = `sess/${id}`
  const a = await v5({ clientId: id, properties: { sessionExpiryInterval: 60 } })
  await a.subscribe(topic, 1)
  await a.disconnect()
  const pub = await v5()
  pub.publish(topic, 'kept', { qos: 1 })
  await pub.next(PacketType.PUBACK)
  const other = await v5({ clientId: `${id}-other`, clean: false })
  assert.equal(other.connack!.sessionPresent, false)
  const again = await v5({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } })
  assert.equal(again.connack!.sessionPresent, true)
  assert.equal((await again.next(PacketType.PUBLISH)).payload.toString(), 'kept')
})

test('a CONNECT without a client id field is refused [MQTT-3.1.3-3]', async () => {
  const c = await tb.open()
  c.sendRaw('10 0b 00 04 4d 51 54 54 05 02 00 00 00')
  await refusedConnect(c)
})

test('a client id, will topic or user name that is not UTF-8 is refused [MQTT-3.1.3-4] [MQTT-3.1.3-11] [MQTT-3.1.3-12]', async () => {
  const cases = [
    hex('10 0e 00 04 4d 51 54 54 05 02 00 00 00 00 01 ff'),
    rawConnect(0x06, '00 00 01 ff 00 00'),
    rawConnect(0x82, '00 01 ff'),
  ]
  for (const bytes of cases) {
    const c = await tb.open()
    c.sendRaw(bytes)
    await refusedConnect(c)
  }
})

test('client ids of 1 to 23 alphanumeric characters are accepted [MQTT-3.1.3-5]', async () => {
  for (const clientId of ['Z', '0123456789abcdefghijXYZ']) {
    const c = await v5({ clientId })
    assert.equal(c.connack!.returnCode, ReasonCode.SUCCESS)
    await c.disconnect()
  }
})

test('a refused client id gets CONNACK 0x85 and a close [MQTT-3.1.3-8]', async () => {
  const c = await tb.open()
  c.send(connectPacket({ protocolVersion: 5, clientId: 'refuse-id-1' }))
  const ack = await c.next(PacketType.CONNACK)
  assert.deepEqual([ack.returnCode, ack.sessionPresent], [ReasonCode.CLIENT_IDENTIFIER_NOT_VALID, false])
  await c.closed()
})

test('a CONNECT that fails authentication gets a CONNACK of 0x80 or above and a close [MQTT-3.1.4-2]', async () => {
  const c = await tb.open()
  c.send(connectPacket({ protocolVersion: 5, username: 'bad' }))
  assert.equal((await c.next(PacketType.CONNACK)).returnCode, ReasonCode.BAD_USER_NAME_OR_PASSWORD)
  await c.closed()
})

test('after a refused CONNECT nothing the client sent behind it is processed [MQTT-3.1.4-6]', async () => {
  const topic = `refused/${uniqueId()}`
  const sub = await v5()
  await sub.subscribe(topic, 0)
  const c = await tb.open()
  c.sendRaw(
    Buffer.concat([
      encode(connectPacket({ protocolVersion: 5, username: 'bad' }), 5),
      encode(
        {
          type: PacketType.PUBLISH,
          topic,
          payload: Buffer.from('x'),
          qos: 0,
          retain: false,
          dup: false,
          packetId: 0,
        },
        5,
      ),
    ]),
  )
  await refusedConnect(c)
  await sub.nothingFor(150)
})

test('an accepted CONNECT gets CONNACK 0x00 first, before the answers to packets sent behind it [MQTT-3.1.4-5] [MQTT-3.2.0-1]', async () => {
  const c = await tb.open()
  c.protocolVersion = 5
  c.sendRaw(
    Buffer.concat([
      encode(connectPacket({ protocolVersion: 5 }), 5),
      encode({ type: PacketType.SUBSCRIBE, packetId: 9, subscriptions: [{ topic: 'first/x', qos: 0 }] }, 5),
      encode({ type: PacketType.PINGREQ }, 5),
    ]),
  )
  const first = await c.next()
  assert.equal(first.type, PacketType.CONNACK)
  assert.equal(first.type === PacketType.CONNACK && first.returnCode, ReasonCode.SUCCESS)
  assert.equal((await c.next(PacketType.SUBACK)).packetId, 9)
  await c.next(PacketType.PINGRESP)
})

test('one CONNACK per connection: a second CONNECT gets DISCONNECT 0x82, not a CONNACK [MQTT-3.2.0-2]', async () => {
  const c = await v5()
  c.send(connectPacket({ protocolVersion: 5 }))
  const d = await c.next()
  assert.equal(d.type, PacketType.DISCONNECT)
  assert.equal(d.type === PacketType.DISCONNECT && d.reasonCode, ReasonCode.PROTOCOL_ERROR)
  await c.closed(1000, false)
})

test('Clean Start is processed and the acknowledge flags have bits 7-1 at 0 [MQTT-3.1.4-4] [MQTT-3.2.2-1]', async () => {
  const clientId = uniqueId('flags')
  const a = await v5({ clientId, properties: { sessionExpiryInterval: 60 } })
  assert.equal(a.raw(a.connack!)[2], 0x00)
  await a.disconnect()
  const b = await v5({ clientId, clean: false, properties: { sessionExpiryInterval: 60 } })
  assert.equal(b.raw(b.connack!)[2], 0x01, 'Session Present, nothing else')
  await b.disconnect()
  const c = await v5({ clientId, clean: true })
  assert.equal(c.raw(c.connack!)[2], 0x00, 'Clean Start 1 discarded the session')
})

test('Will Retain 0 publishes the will non-retained, Will Retain 1 retained [MQTT-3.1.2-14] [MQTT-3.1.2-15]', async () => {
  for (const retain of [false, true]) {
    const topic = `will-retain/${uniqueId()}`
    const sub = await v5()
    await sub.subscribe([{ topic, qos: 0, retainAsPublished: true }])
    const c = await v5({ will: { topic, payload: Buffer.from('gone'), qos: 0, retain } })
    c.destroy()
    assert.equal((await sub.next(PacketType.PUBLISH)).retain, retain)
    const later = await v5()
    await later.subscribe(topic, 0)
    if (retain) assert.equal((await later.next(PacketType.PUBLISH)).payload.toString(), 'gone')
    else await later.nothingFor(150)
  }
})

test("the broker sends nothing larger than the client's Maximum Packet Size [MQTT-3.1.2-24]", async () => {
  const topic = `mps/${uniqueId()}`
  const sub = await v5({ properties: { maximumPacketSize: 64 } })
  await sub.subscribe(topic, 1)
  const pub = await v5()
  for (const size of [10, 60, 100, 20]) {
    pub.publish(topic, Buffer.alloc(size, 0x61), { qos: 1 })
    await pub.next(PacketType.PUBACK)
  }
  for (const size of [10, 20]) {
    const m = await sub.next(PacketType.PUBLISH)
    assert.equal(m.payload.length, size)
    assert.ok(sub.raw(m).length <= 64)
    sub.send({ type: PacketType.PUBACK, packetId: m.packetId })
  }
  await sub.nothingFor(100)
})

test('a refused CONNACK drops its Reason String when it would exceed the Maximum Packet Size [MQTT-3.2.2-19] [MQTT-3.2.2-20]', async () => {
  const loud = await tb.open()
  loud.send(connectPacket({ protocolVersion: 5, username: 'bad' }))
  const full = await loud.next(PacketType.CONNACK)
  assert.ok(full.properties?.reasonString, 'a Reason String when there is room')
  const quiet = await tb.open()
  quiet.send(connectPacket({ protocolVersion: 5, username: 'bad', properties: { maximumPacketSize: 8 } }))
  const small = await quiet.next(PacketType.CONNACK)
  assert.equal(small.returnCode, ReasonCode.BAD_USER_NAME_OR_PASSWORD)
  assert.ok(quiet.raw(small).length <= 8)
  assert.equal(small.properties?.reasonString, undefined)
  assert.equal(small.properties?.userProperties, undefined)
})

test('Request Problem Information 0: refusals in PUBACK, PUBREC and SUBACK carry no Reason String or User Property [MQTT-3.1.2-29]', async () => {
  const c = await v5({ properties: { requestProblemInformation: false } })
  c.publish('forbidden/a', 'x', { qos: 1 })
  const ack = await c.next(PacketType.PUBACK)
  assert.equal(ack.reasonCode, ReasonCode.NOT_AUTHORIZED)
  assert.equal(c.raw(ack).length, 5, 'id and reason code, no properties')
  assert.equal(ack.properties?.reasonString, undefined)
  c.publish('forbidden/b', 'x', { qos: 2 })
  const rec = await c.next(PacketType.PUBREC)
  assert.equal(rec.reasonCode, ReasonCode.NOT_AUTHORIZED)
  assert.equal(rec.properties?.reasonString, undefined)
  assert.equal(rec.properties?.userProperties, undefined)
  const sack = await c.subscribe('forbidden/c', 1)
  assert.ok(sack.granted[0]! >= 0x80)
  assert.equal(sack.properties?.reasonString, undefined)
  assert.equal(sack.properties?.userProperties, undefined)
})
