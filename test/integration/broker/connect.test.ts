/**
 * CONNECT and CONNACK over TCP: validation, every return code, protocol levels,
 * client identifiers, the session-present flag, takeover and the connect timeout.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ClientInfo } from '../../../src/broker/options.js'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { delay, hex, startBroker, uniqueId } from '../../helpers/raw-client.js'

/** CONNECT bytes from encode(), then changed by `edit` (offsets: 9 is the connect flags byte for 'MQTT'). */
function connectBytes(clientId: string, edit?: (b: Buffer) => void): Buffer {
  const b = Buffer.from(
    encode({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: true,
      keepalive: 0,
      clientId,
    }),
  )
  edit?.(b)
  return b
}

test('accepts a 3.1.1 CONNECT and answers CONNACK 0 as its first packet [MQTT-3.1.4-4] [MQTT-3.2.0-1]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  const ack = await c.connect({ clientId: 'plain' })
  assert.deepEqual(c.raw(ack), hex('20 02 00 00'))
})

test('accepts MQTT 3.1 (protocol name MQIsdp, level 3)', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  const ack = await c.connect({ protocolName: 'MQIsdp', protocolVersion: 3, clientId: 'v31' })
  assert.equal(ack.returnCode, 0)
  assert.equal((await c.subscribe('a', 1)).granted[0], 1)
})

test('answers CONNACK 0x01 and closes when the protocol level is not supported [MQTT-3.1.2-2]', async () => {
  const tb = await startBroker()
  // (level 5 is MQTT 5, spoken since: see v5-connect.test.ts)
  for (const [name, level] of [
    ['MQTT', 3],
    ['MQTT', 6],
    ['MQIsdp', 4],
  ] as const) {
    const c = await tb.open()
    // protocolVersion is typed 3 | 4 | 5: patch the level byte for 6
    const b = Buffer.from(
      encode({
        type: PacketType.CONNECT,
        protocolName: name,
        protocolVersion: 4,
        clean: true,
        keepalive: 0,
        clientId: 'x',
      }),
    )
    b[2 + 2 + name.length] = level
    c.sendRaw(b)
    const ack = await c.next(PacketType.CONNACK)
    assert.deepEqual(c.raw(ack), hex('20 02 00 01'), `${name} level ${level}`)
    await c.closed()
  }
})

test('closes without CONNACK when the protocol name is not MQTT [MQTT-3.1.2-1]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  c.sendRaw('10 0d 0004 4d515458 04 02 0000 0001 63') // 'MQTX'
  await c.closed(1000, false)
})

test('closes without CONNACK when the CONNECT reserved flag is set [MQTT-3.1.2-3] [MQTT-3.1.4-1] [MQTT-3.2.2-6]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  c.sendRaw(connectBytes('r', (b) => (b[9] = 0x03)))
  await c.closed(1000, false)
})

test('closes without CONNACK when will QoS or will retain is set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]', async () => {
  const tb = await startBroker()
  for (const flags of [0x02 | 0x08, 0x02 | 0x10, 0x02 | 0x20]) {
    const c = await tb.open()
    c.sendRaw(connectBytes('w', (b) => (b[9] = flags)))
    await c.closed(1000, false)
  }
})

test('closes without CONNACK when will QoS is 3 [MQTT-3.1.2-14]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  // will flag, QoS 3, will topic 't', empty will message
  c.sendRaw('10 12 0004 4d515454 04 1e 0000 0001 63 0001 74 0000')
  await c.closed(1000, false)
})

test('closes without CONNACK when the password flag is set without the user name flag [MQTT-3.1.2-22]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  c.sendRaw('10 10 0004 4d515454 04 42 0000 0001 63 0001 70')
  await c.closed(1000, false)
})

test('closes without CONNACK when the CONNECT payload does not match its flags [MQTT-3.1.2-9] [MQTT-3.1.2-18] [MQTT-3.1.2-19] [MQTT-3.1.2-20] [MQTT-3.1.2-21] [MQTT-3.2.2-6]', async () => {
  const tb = await startBroker()
  for (const h of [
    '10 0d 0004 4d515454 04 06 0000 0001 63', // will flag, no will topic
    '10 0d 0004 4d515454 04 82 0000 0001 63', // user name flag, no user name
    '10 10 0004 4d515454 04 c2 0000 0001 63 0001 75', // password flag, no password
    '10 10 0004 4d515454 04 02 0000 0001 63 0001 75', // a user name without its flag
    '10 13 0004 4d515454 04 82 0000 0001 63 0001 75 0001 70', // a password without its flag
  ]) {
    const c = await tb.open()
    c.sendRaw(h)
    await c.closed(1000, false)
  }
})

test('closes without CONNACK when the client id is not well-formed UTF-8 or holds U+0000 [MQTT-3.1.3-4] [MQTT-1.5.3-1] [MQTT-1.5.3-2]', async () => {
  const tb = await startBroker()
  for (const id of ['c0 af', 'ed a0 80', '61 00 62']) {
    const c = await tb.open()
    const idBytes = hex(id)
    const body = Buffer.concat([
      hex('0004 4d515454 04 02 0000'),
      hex(idBytes.length.toString(16).padStart(4, '0')),
      idBytes,
    ])
    c.sendRaw(Buffer.concat([Buffer.from([0x10, body.length]), body]))
    await c.closed(1000, false)
  }
})

test('allows client ids of 1 to 23 alphanumeric characters, and longer ones [MQTT-3.1.3-5]', async () => {
  const tb = await startBroker()
  for (const id of ['a', '0123456789abcdefghijklm', 'ABCDEFGHIJKLMNOPQRSTUVW', `long-${'x'.repeat(200)}`]) {
    const c = await tb.open()
    const ack = await c.connect({ clientId: id })
    assert.equal(ack.returnCode, 0, id)
  }
})

test('assigns a unique client id to a zero-length id with clean session 1 [MQTT-3.1.3-6]', async () => {
  const tb = await startBroker()
  const ids: string[] = []
  tb.broker.on('clientConnected', (c: ClientInfo) => ids.push(c.id))
  const a = await tb.open()
  const b = await tb.open()
  const ackA = await a.connect({ clientId: '' })
  const ackB = await b.connect({ clientId: '' })
  assert.deepEqual(a.raw(ackA), hex('20 02 00 00'))
  assert.deepEqual(b.raw(ackB), hex('20 02 00 00'))
  assert.equal(ids.length, 2)
  assert.ok(ids[0]!.length > 0 && ids[1]!.length > 0)
  assert.notEqual(ids[0], ids[1])
  // both work as independent clients
  await a.subscribe('zl/t', 0)
  b.publish('zl/t', 'hi')
  assert.equal((await a.next(PacketType.PUBLISH)).payload.toString(), 'hi')
})

test('refuses a zero-length client id with clean session 0: CONNACK 0x02, session present 0, close [MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  const ack = await c.connect({ clientId: '', clean: false })
  assert.deepEqual(c.raw(ack), hex('20 02 00 02'))
  await c.closed()
})

test('refuses a zero-length client id on MQTT 3.1 with CONNACK 0x02', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  const ack = await c.connect({ protocolName: 'MQIsdp', protocolVersion: 3, clientId: '' })
  assert.equal(ack.returnCode, 2)
  await c.closed()
})

test('answers every CONNACK return code the authenticate option chooses, then closes [MQTT-3.1.3-9] [MQTT-3.2.2-4] [MQTT-3.2.2-5]', async () => {
  const answers = new Map<string, boolean | number>([
    ['ok', true],
    ['false', false],
    ['id', 2],
    ['unavailable', 3],
    ['badpass', 4],
    ['notauth', 5],
    ['weird', 77],
  ])
  const tb = await startBroker({ authenticate: (client) => answers.get(client.id) ?? false })
  const expect: [string, number][] = [
    ['false', 4],
    ['id', 2],
    ['unavailable', 3],
    ['badpass', 4],
    ['notauth', 5],
    ['weird', 5],
  ]
  for (const [id, code] of expect) {
    const c = await tb.open()
    const ack = await c.connect({ clientId: id })
    assert.deepEqual(c.raw(ack), Buffer.from([0x20, 2, 0, code]), id)
    await c.closed()
  }
  await tb.connect({ clientId: 'ok' })
})

test('passes user name and password to authenticate, and waits for a Promise answer', async () => {
  const seen: [string | undefined, string | undefined][] = []
  const tb = await startBroker({
    authenticate: async (_c, username, password) => {
      seen.push([username, password?.toString('hex')])
      await delay(20)
      return username === 'u' && password?.toString() === 'p' ? true : 4
    },
  })
  const good = await tb.open()
  assert.equal((await good.connect({ username: 'u', password: Buffer.from('p') })).returnCode, 0)
  const bad = await tb.open()
  assert.equal((await bad.connect({ username: 'u', password: Buffer.from('x') })).returnCode, 4)
  await bad.closed()
  const none = await tb.open()
  assert.equal((await none.connect({})).returnCode, 4)
  assert.deepEqual(seen, [
    ['u', '70'],
    ['u', '78'],
    [undefined, undefined],
  ])
})

test('answers CONNACK 0x03 when authenticate throws or rejects', async () => {
  const tb = await startBroker({
    authenticate: (c) => {
      if (c.id === 'throw') throw new Error('boom')
      return Promise.reject(new Error('boom'))
    },
  })
  for (const id of ['throw', 'reject']) {
    const c = await tb.open()
    assert.equal((await c.connect({ clientId: id })).returnCode, 3, id)
    await c.closed()
  }
})

test('answers CONNACK 0x03 (server unavailable) beyond maxConnections, and accepts again once one leaves', async () => {
  const tb = await startBroker({ maxConnections: 2 })
  const a = await tb.connect()
  await tb.connect()
  const c = await tb.open()
  const ack = await c.connect()
  assert.deepEqual(c.raw(ack), hex('20 02 00 03'))
  await c.closed()
  await a.disconnect()
  await delay(20)
  await tb.connect()
})

test('lets a client take over its own connection at the maxConnections limit [MQTT-3.1.4-2]', async () => {
  const tb = await startBroker({ maxConnections: 1 })
  const id = uniqueId()
  const first = await tb.connect({ clientId: id })
  const second = await tb.connect({ clientId: id })
  await first.closed()
  second.send({ type: PacketType.PINGREQ })
  await second.next(PacketType.PINGRESP)
  assert.equal(tb.broker.connectedCount, 1)
})

test('does not process packets sent in the same write after a CONNECT refused at once [MQTT-3.1.4-5]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  const refused = Buffer.from(
    encode({
      type: PacketType.CONNECT,
      protocolName: 'MQTT',
      protocolVersion: 4,
      clean: false,
      keepalive: 0,
      clientId: '',
    }),
  )
  c.sendRaw(
    Buffer.concat([
      refused,
      encode({
        type: PacketType.PUBLISH,
        topic: 'after/refused/sync',
        payload: Buffer.from('x'),
        qos: 0,
        retain: true,
        dup: false,
        packetId: 0,
      }),
      encode({ type: PacketType.PINGREQ }),
    ]),
  )
  assert.equal((await c.next(PacketType.CONNACK)).returnCode, 2)
  await c.closed(1000, false)
  assert.equal(tb.broker.retainedCount, 0)
})

test('closes a connection whose authenticate does not answer within connectTimeout, without CONNACK', async () => {
  const tb = await startBroker({ connectTimeout: 200, authenticate: () => new Promise<boolean>(() => {}) })
  const c = await tb.open()
  c.send({
    type: PacketType.CONNECT,
    protocolName: 'MQTT',
    protocolVersion: 4,
    clean: true,
    keepalive: 0,
    clientId: 'slow',
  })
  await c.closed(1500, false)
})

test('does not process packets sent after a refused CONNECT [MQTT-3.1.4-5]', async () => {
  const tb = await startBroker({
    authenticate: async () => {
      await delay(30)
      return 5
    },
  })
  const c = await tb.open()
  c.sendRaw(
    Buffer.concat([
      connectBytes('refused'),
      encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }),
      encode({
        type: PacketType.PUBLISH,
        topic: 'after/refused',
        payload: Buffer.from('x'),
        qos: 0,
        retain: true,
        dup: false,
        packetId: 0,
      }),
    ]),
  )
  const ack = await c.next(PacketType.CONNACK)
  assert.equal(ack.returnCode, 5)
  await c.closed(1000, false)
  assert.equal(tb.broker.retainedCount, 0)
  assert.equal(tb.broker.subscriptionCount, 0)
})

test('processes packets sent right after CONNECT, before the CONNACK arrives (also while authenticate is pending)', async () => {
  const slowYes = async (): Promise<boolean> => {
    await delay(30)
    return true
  }
  for (const authenticate of [undefined, slowYes]) {
    const tb = await startBroker(authenticate ? { authenticate } : {})
    const c = await tb.open()
    c.sendRaw(
      Buffer.concat([
        connectBytes(uniqueId()),
        encode({ type: PacketType.SUBSCRIBE, packetId: 7, subscriptions: [{ topic: 'early', qos: 1 }] }),
        encode({ type: PacketType.PINGREQ }),
      ]),
    )
    assert.equal((await c.next(PacketType.CONNACK)).returnCode, 0)
    assert.deepEqual(await c.next(PacketType.SUBACK), { type: PacketType.SUBACK, packetId: 7, granted: [1] })
    await c.next(PacketType.PINGRESP)
  }
})

test('sets session present to 0 for clean session 1 [MQTT-3.2.2-1]', async () => {
  const tb = await startBroker()
  const id = uniqueId()
  const a = await tb.connect({ clientId: id, clean: false })
  await a.subscribe('sp/a', 1)
  await a.disconnect()
  const b = await tb.open()
  const ack = await b.connect({ clientId: id, clean: true })
  assert.deepEqual(b.raw(ack), hex('20 02 00 00'))
})

test('sets session present to 0 for clean session 0 when no session is stored [MQTT-3.2.2-3] [MQTT-3.1.2-4]', async () => {
  const tb = await startBroker()
  const c = await tb.open()
  const ack = await c.connect({ clientId: uniqueId(), clean: false })
  assert.deepEqual(c.raw(ack), hex('20 02 00 00'))
})

test('sets session present to 1 for clean session 0 when a session is stored [MQTT-3.2.2-2] [MQTT-3.1.2-4]', async () => {
  const tb = await startBroker()
  const id = uniqueId()
  const a = await tb.connect({ clientId: id, clean: false })
  await a.disconnect()
  const b = await tb.open()
  const ack = await b.connect({ clientId: id, clean: false })
  assert.deepEqual(b.raw(ack), hex('20 02 01 00'))
})

test('discards a stored session on clean session 1, so a later clean session 0 finds none [MQTT-3.1.2-6]', async () => {
  const tb = await startBroker()
  const id = uniqueId()
  const a = await tb.connect({ clientId: id, clean: false })
  await a.subscribe('discard/me', 1)
  await a.disconnect()
  const b = await tb.connect({ clientId: id, clean: true })
  await b.disconnect()
  const c = await tb.open()
  assert.equal((await c.connect({ clientId: id, clean: false })).sessionPresent, false)
  // the old subscription is gone with the old session
  const p = await tb.connect()
  p.publish('discard/me', 'x', { qos: 1 })
  await p.next(PacketType.PUBACK)
  await c.nothingFor(100)
})

test('ends a clean session with its connection: reconnecting with clean session 0 finds no session [MQTT-3.1.2-6]', async () => {
  const tb = await startBroker()
  const id = uniqueId()
  const a = await tb.connect({ clientId: id, clean: true })
  await a.subscribe('gone', 1)
  await a.disconnect()
  await delay(20)
  const b = await tb.open()
  assert.equal((await b.connect({ clientId: id, clean: false })).sessionPresent, false)
  assert.equal(tb.broker.subscriptionCount, 0)
})

test('closes the connection when the first packet is not CONNECT [MQTT-3.1.0-1]', async () => {
  const tb = await startBroker()
  for (const first of [
    encode({ type: PacketType.PINGREQ }),
    encode({ type: PacketType.SUBSCRIBE, packetId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }),
    encode({
      type: PacketType.PUBLISH,
      topic: 'first/not/connect',
      payload: Buffer.from('x'),
      qos: 0,
      retain: true,
      dup: false,
      packetId: 0,
    }),
    encode({ type: PacketType.DISCONNECT }),
  ]) {
    const c = await tb.open()
    c.sendRaw(first)
    await c.closed(1000, false)
  }
  assert.equal(tb.broker.retainedCount, 0)
})

test('treats a second CONNECT as a protocol violation and closes the connection [MQTT-3.1.0-2]', async () => {
  const tb = await startBroker()
  const c = await tb.connect({ clientId: 'twice' })
  c.sendRaw(connectBytes('twice'))
  await c.closed(1000, false)
  // also when the second CONNECT follows the first in the same write
  const d = await tb.open()
  d.sendRaw(Buffer.concat([connectBytes('twice2'), connectBytes('twice2')]))
  await d.closed()
})

test('closes a connection that sends no CONNECT within connectTimeout', async () => {
  const tb = await startBroker({ connectTimeout: 200 })
  const c = await tb.open()
  const start = performance.now()
  await c.closed(2000, false)
  const took = performance.now() - start
  assert.ok(took >= 150 && took < 800, `closed after ${took.toFixed(0)} ms`)
  // a CONNECT in time keeps the connection
  const d = await tb.connect()
  await delay(300)
  assert.equal(d.ended, false)
})

test('closes the existing connection when a client connects with the same client id [MQTT-3.1.4-2]', async () => {
  const tb = await startBroker()
  const id = uniqueId()
  const first = await tb.connect({ clientId: id, clean: false })
  await first.subscribe('takeover/t', 1)
  const second = await tb.open()
  const ack = await second.connect({ clientId: id, clean: false })
  assert.deepEqual(second.raw(ack), hex('20 02 01 00'))
  await first.closed()
  // the session moved to the new connection
  const p = await tb.connect()
  p.publish('takeover/t', 'moved', { qos: 1 })
  const m = await second.next(PacketType.PUBLISH)
  assert.equal(m.payload.toString(), 'moved')
  assert.equal(tb.broker.connectedCount, 2)
})

test('answers PINGREQ with PINGRESP [MQTT-3.12.4-1]', async () => {
  const tb = await startBroker()
  const c = await tb.connect()
  c.sendRaw('c0 00')
  const r = await c.next(PacketType.PINGRESP)
  assert.deepEqual(c.raw(r), hex('d0 00'))
})

test('closes the connection after DISCONNECT [MQTT-3.14.4-1]', async () => {
  const tb = await startBroker()
  const c = await tb.connect()
  c.sendRaw('e0 00') // DISCONNECT without ending our side: the server closes
  await c.closed(1000, false)
})
