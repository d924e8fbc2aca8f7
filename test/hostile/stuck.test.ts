import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { test } from 'node:test'
import { encode, PacketType } from '../../src/protocol/index.js'
import { flood, rawConnect, sleep } from '../helpers/flood.js'
import { assertBelow, MB, Probe, peakGrowth } from '../helpers/hostile.js'
import { startBroker, uniqueId } from '../helpers/raw-client.js'

/**
 * A subscriber to '#' that never reads its socket, while publishers send QoS 0 and QoS 1
 * as fast as their sockets take it: the broker's memory stays bounded (maxOutputBuffer,
 * maxQueuedMessages), everybody else is served, and the stuck subscriber is disconnected
 * after slowConsumerTimeout.
 */

/** QoS 1 PUBLISHes for `ms`, as fast as the socket takes them, ids 1..65535 over and over; PUBACKs read and dropped. */
async function floodQos1(socket: Socket, topic: string, ms: number): Promise<number> {
  socket.on('data', () => {})
  const end = performance.now() + ms
  let id = 0
  let sent = 0
  while (performance.now() < end && !socket.destroyed) {
    if (socket.writableLength < 256 * 1024) {
      const batch: Buffer[] = []
      for (let i = 0; i < 256; i++) {
        id = id === 65_535 ? 1 : id + 1
        batch.push(
          encode({
            type: PacketType.PUBLISH,
            topic,
            payload: Buffer.alloc(64, 0x62),
            qos: 1,
            retain: false,
            dup: false,
            packetId: id,
          }),
        )
      }
      socket.write(Buffer.concat(batch))
      sent += 256
    }
    await new Promise((r) => setImmediate(r))
  }
  return sent
}

test('a subscriber that never reads, under QoS 0 and QoS 1 publishers at full speed: memory bounded, others served, the stuck one dropped', async (t) => {
  const tb = await startBroker({ slowConsumerTimeout: 2500 }, t)
  const stuck = await tb.connect({ clientId: uniqueId('stuck') })
  await stuck.subscribe('#', 1)
  stuck.socket.pause() // reads nothing from now on
  const probe = await Probe.start(tb, t)
  const pub0 = await rawConnect(tb.port, uniqueId('pub0'))
  const pub1 = await rawConnect(tb.port, uniqueId('pub1'))
  pub0.on('data', () => {})
  t.after(() => {
    pub0.destroy()
    pub1.destroy()
  })
  let sent = 0
  const grown = await peakGrowth(async () => {
    const [a, b] = await Promise.all([flood(pub0, 'load/qos0', 3000), floodQos1(pub1, 'load/qos1', 3000)])
    sent = a + b
  })
  // the stuck subscriber's backlog: 4 MiB of output at most, 1000 queued QoS 1 messages
  assertBelow(grown, 48 * MB, 'memory grew')
  assert.ok(sent > 10_000, `only ${sent} messages published in 3 s`)
  await probe.stop('a stuck subscriber under load')
  // taking nothing for slowConsumerTimeout, it is disconnected
  const t0 = performance.now()
  while (!stuck.ended && performance.now() - t0 < 5000) await sleep(50)
  assert.ok(stuck.ended || tb.broker.connectedCount === 3, 'the stuck subscriber is still connected')
})
