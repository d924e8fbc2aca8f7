/**
 * MQTT 5 SUBSCRIBE and UNSUBSCRIBE from the client, against a scripted broker:
 * subscription options and properties on the wire, reason codes per filter,
 * re-subscribing with the same options when a reconnect finds no session.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { PacketType, PetrelError, ReasonCode, ServerLimitError } from '../../../src/index.js'
import { T } from './suite.js'
import { v5Rig } from './v5-rig.js'

describe('MQTT 5 client: subscribe and unsubscribe', () => {
  test('SUBSCRIBE carries the options, the subscription identifier and user properties', T, async () => {
    const { client, s } = await v5Rig()
    const granted = client.subscribe(['s/a', 's/b'], {
      qos: 2,
      noLocal: true,
      retainAsPublished: true,
      retainHandling: 2,
      subscriptionIdentifier: 42,
      userProperties: [['u', 'v']],
    })
    const sub = await s.next(PacketType.SUBSCRIBE)
    assert.deepEqual(sub.subscriptions, [
      { topic: 's/a', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      { topic: 's/b', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
    ])
    assert.deepEqual(sub.properties, { subscriptionIdentifier: 42, userProperties: [['u', 'v']] })
    s.send({ type: PacketType.SUBACK, packetId: sub.packetId, granted: [1, ReasonCode.NOT_AUTHORIZED] })
    // failures come back per filter, as their reason code [MQTT-3.9.3]
    assert.deepEqual(await granted, [1, 0x87])
    assert.deepEqual([...client.subscriptions], [['s/a', 2]])
  })

  test('UNSUBSCRIBE resolves with the UNSUBACK reason code of each filter', T, async () => {
    const { client, s } = await v5Rig()
    const done = client.unsubscribe(['u/a', 'u/b', 'u/c'], { userProperties: [['k', 'v']] })
    const u = await s.next(PacketType.UNSUBSCRIBE)
    assert.deepEqual(u.topics, ['u/a', 'u/b', 'u/c'])
    assert.deepEqual(u.properties, { userProperties: [['k', 'v']] })
    s.send({
      type: PacketType.UNSUBACK,
      packetId: u.packetId,
      reasonCodes: [0, ReasonCode.NO_SUBSCRIPTION_EXISTED, ReasonCode.NOT_AUTHORIZED],
    })
    assert.deepEqual(await done, [0, 0x11, 0x87])
  })

  test('a reconnect without a session re-subscribes with the same options and identifier', T, async () => {
    const { fb, client, s } = await v5Rig({ reconnect: { minDelay: 10 } })
    const a = client.subscribe('r/a', { qos: 1, noLocal: true, subscriptionIdentifier: 5 })
    const b = client.subscribe('r/b', { qos: 2, retainHandling: 1 })
    const sa = await s.next(PacketType.SUBSCRIBE)
    const sb = await s.next(PacketType.SUBSCRIBE)
    s.send({ type: PacketType.SUBACK, packetId: sa.packetId, granted: [1] })
    s.send({ type: PacketType.SUBACK, packetId: sb.packetId, granted: [2] })
    await Promise.all([a, b])
    s.destroy()
    const s2 = await fb.acceptWith({}, false)
    const again = [await s2.next(PacketType.SUBSCRIBE), await s2.next(PacketType.SUBSCRIBE)]
    const byId = new Map(again.map((p) => [p.properties?.subscriptionIdentifier, p.subscriptions]))
    assert.deepEqual(byId.get(5), [
      { topic: 'r/a', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 },
    ])
    assert.deepEqual(byId.get(undefined), [
      { topic: 'r/b', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 1 },
    ])
  })

  test('a subscription identifier the broker does not support is refused locally', T, async () => {
    const { client, s } = await v5Rig({}, { subscriptionIdentifiersAvailable: false })
    await assert.rejects(
      client.subscribe('x', { subscriptionIdentifier: 1 }),
      (e: unknown) => e instanceof ServerLimitError && e.reasonCode === 0xa1,
    )
    await s.nothingFor(50)
  })

  test(
    'wildcards and shared subscriptions the broker does not support are refused locally; No Local on a shared one too [MQTT-3.8.3-4]',
    T,
    async () => {
      const { client, s } = await v5Rig(
        {},
        { wildcardSubscriptionAvailable: false, sharedSubscriptionAvailable: false },
      )
      await assert.rejects(
        client.subscribe('a/+'),
        (e: unknown) =>
          e instanceof ServerLimitError && e.reasonCode === ReasonCode.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
      )
      await assert.rejects(
        client.subscribe('$share/g/a'),
        (e: unknown) =>
          e instanceof ServerLimitError && e.reasonCode === ReasonCode.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED,
      )
      const b = await v5Rig()
      await assert.rejects(
        b.client.subscribe('$share/g/a', { noLocal: true }),
        (e: unknown) => e instanceof PetrelError && e.code === 'PETREL_INVALID_PROPERTY',
      )
      await s.nothingFor(20)
      await b.s.nothingFor(20)
    },
  )

  test('v5 subscribe options on a 3.1.1 client are refused', T, async () => {
    const { connect } = await import('../../../src/index.js')
    const { startFakeBroker } = await import('./fake-broker.js')
    const fb = await startFakeBroker()
    const pending = connect(fb.url, { reconnect: false })
    const s = await fb.accept()
    assert.equal(s.connect.protocolVersion, 4)
    s.send({ type: PacketType.CONNACK, sessionPresent: false, returnCode: 0 })
    const c = await pending
    await assert.rejects(
      c.subscribe('x', { noLocal: true }),
      (e: unknown) => e instanceof PetrelError && e.code === 'PETREL_NEEDS_MQTT5',
    )
    await assert.rejects(c.publish('x', 'y', { properties: {} }), PetrelError)
    await assert.rejects(c.request('x', 'y'), PetrelError)
    await c.end({ force: true })
  })
})
