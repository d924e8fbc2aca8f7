/**
 * MQTT 5 request/response (4.10) with client.request() and client.respond():
 * against a real Mosquitto 2 (a v5 broker) for the round trips, and a scripted
 * broker for what goes on the wire.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Client, connect, type Message, PacketType, RequestTimeoutError } from '../../../src/index.js'
import { type MosquittoBroker, mosquittoSkip, startMosquitto } from '../../helpers/mosquitto.js'
import { T } from './suite.js'
import { track, v5Rig } from './v5-rig.js'

describe('MQTT 5 client: request/response against Mosquitto', { skip: mosquittoSkip() }, () => {
  let m: MosquittoBroker
  let responder: Client
  let requester: Client
  const held: Message[] = []
  before(async () => {
    m = await startMosquitto()
    responder = track(await connect(m.url, { protocolVersion: 5 }))
    requester = track(await connect(m.url, { protocolVersion: 5 }))
    await responder.subscribe('svc/#', { qos: 1 })
    responder.on('message', (topic, payload, msg) => {
      if (topic === 'svc/hold') {
        held.push(msg)
        return
      }
      if (topic === 'svc/silent') return
      void responder.respond(msg, payload.toString().toUpperCase(), {
        properties: { contentType: 'text/upper' },
      })
    })
  })
  after(async () => {
    await responder?.end()
    await requester?.end()
    await m?.stop()
  })

  test(
    'request() resolves with the reply carrying its correlation data; replies do not reach message listeners',
    T,
    async () => {
      const seen: string[] = []
      requester.on('message', (t) => seen.push(t))
      const reply = await requester.request('svc/echo', 'hello', { timeout: 3000, qos: 1 })
      assert.equal(reply.payload.toString(), 'HELLO')
      assert.equal(reply.properties?.contentType, 'text/upper')
      assert.ok(reply.properties?.correlationData instanceof Buffer)
      assert.match(reply.topic, /^petrel\/response\/[0-9a-f]{16}$/)
      assert.deepEqual(seen, [])
    },
  )

  test('concurrent requests each get their own reply, whatever the order of the replies', T, async () => {
    const n = 20
    const all = Array.from({ length: n }, (_, i) => requester.request('svc/hold', `r${i}`, { timeout: 5000 }))
    while (held.length < n) await new Promise((r) => setTimeout(r, 5))
    for (const msg of held.splice(0).reverse()) void responder.respond(msg, `re:${msg.payload.toString()}`)
    const replies = await Promise.all(all)
    assert.deepEqual(
      replies.map((r) => r.payload.toString()),
      Array.from({ length: n }, (_, i) => `re:r${i}`),
    )
  })

  test('a request with no reply rejects with RequestTimeoutError and is forgotten', T, async () => {
    const started = Date.now()
    await assert.rejects(requester.request('svc/silent', 'x', { timeout: 150 }), RequestTimeoutError)
    assert.ok(Date.now() - started >= 140)
    // a later request still works (the response subscription is made once)
    assert.equal((await requester.request('svc/again', 'y', { timeout: 3000 })).payload.toString(), 'Y')
  })

  test('respond() refuses a message without a Response Topic', T, async () => {
    const fake = { topic: 't', payload: Buffer.alloc(0), qos: 0, retain: false, dup: false } as Message
    await assert.rejects(requester.respond(fake, 'x'), /no Response Topic/)
  })
})

describe('MQTT 5 client: request/response on the wire', () => {
  test(
    "the response topic is subscribed once, under the broker's Response Information when it gave one",
    T,
    async () => {
      const { client, s } = await v5Rig(
        { requestResponseInformation: true },
        { responseInformation: 'replies/c1/' },
      )
      assert.equal(s.connect.properties?.requestResponseInformation, true)
      const first = client.request('svc/a', 'q1', { timeout: 2000 })
      const sub = await s.next(PacketType.SUBSCRIBE)
      const filter = sub.subscriptions[0]!.topic
      assert.match(filter, /^replies\/c1\/[0-9a-f]{16}$/)
      s.send({ type: PacketType.SUBACK, packetId: sub.packetId, granted: [1] })
      const req = await s.next(PacketType.PUBLISH)
      assert.equal(req.topic, 'svc/a')
      assert.equal(req.properties?.responseTopic, filter)
      const cd = req.properties?.correlationData
      assert.ok(cd !== undefined && cd.length > 0)
      // a second request: no second SUBSCRIBE, another Correlation Data
      const second = client.request('svc/a', 'q2', { timeout: 2000 })
      const req2 = await s.next(PacketType.PUBLISH)
      assert.notDeepEqual(req2.properties?.correlationData, cd)
      const reply = (payload: string, correlationData: Buffer | undefined) =>
        s.send({
          type: PacketType.PUBLISH,
          topic: filter,
          payload: Buffer.from(payload),
          qos: 0,
          retain: false,
          dup: false,
          packetId: 0,
          properties: correlationData === undefined ? undefined : { correlationData },
        })
      reply('two', req2.properties?.correlationData)
      reply('one', cd)
      assert.equal((await second).payload.toString(), 'two')
      assert.equal((await first).payload.toString(), 'one')
    },
  )
})
