import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ClusterStatus } from '../../../src/broker/cluster-bridge.js'
import { brokerStats } from '../../../src/broker/events.js'
import { type SysSource, SysState, sysValues } from '../../../src/broker/sys.js'
import { MOSQUITTO_SYS_TOPICS } from '../../helpers/mosquitto-sys.js'

function source(): SysSource & { stats: ReturnType<typeof brokerStats> } {
  return {
    stats: brokerStats(),
    connectedCount: 2,
    sessionCount: 5,
    subscriptionCount: 7,
    retainedCount: 3,
    retainedBytes: 30,
    admin: {
      totals: () => ({
        persistentSessions: 3,
        inflight: 4,
        queued: 6,
        sharedSubscriptions: 1,
        storedMessages: 13,
        storedBytes: 130,
      }),
    },
  }
}

test('publishes every $SYS topic Mosquitto 2.0 publishes, by the same name', () => {
  const topics = new Set(sysValues(source()).map(([t]) => t))
  const missing = MOSQUITTO_SYS_TOPICS.filter((t) => !topics.has(t))
  assert.deepEqual(missing, [])
})

test('reports clients, messages, stores and publishes as Mosquitto means them', () => {
  const b = source()
  const s = b.stats
  s.messagesReceived = 11
  s.messagesSent = 12
  s.publishIn[1] = 4 // 3.1 QoS 1
  s.publishOut[3] = 2 // 3.1.1 QoS 0
  s.publishOut[8] = 1 // 5.0 QoS 2
  s.publishPayloadIn = 40
  s.publishPayloadOut = 50
  s.sessionsExpired = 9
  s.dropped = 8
  s.maxConnected = 4
  const v = new Map(sysValues(b))
  const expect: Record<string, string> = {
    '$SYS/broker/clients/total': '5',
    '$SYS/broker/clients/connected': '2',
    '$SYS/broker/clients/active': '2',
    '$SYS/broker/clients/disconnected': '3',
    '$SYS/broker/clients/inactive': '3',
    '$SYS/broker/clients/expired': '9',
    '$SYS/broker/clients/maximum': '4',
    '$SYS/broker/messages/received': '11',
    '$SYS/broker/messages/sent': '12',
    '$SYS/broker/messages/stored': '13',
    '$SYS/broker/store/messages/count': '13',
    '$SYS/broker/store/messages/bytes': '130',
    '$SYS/broker/subscriptions/count': '7',
    '$SYS/broker/shared_subscriptions/count': '1',
    '$SYS/broker/retained messages/count': '3',
    '$SYS/broker/publish/messages/received': '4',
    '$SYS/broker/publish/messages/sent': '3',
    '$SYS/broker/publish/messages/dropped': '8',
    '$SYS/broker/publish/bytes/received': '40',
    '$SYS/broker/publish/bytes/sent': '50',
  }
  for (const [topic, value] of Object.entries(expect)) assert.equal(v.get(topic), value, topic)
  const heap = Number(v.get('$SYS/broker/heap/current'))
  assert.ok(heap > 0 && Number(v.get('$SYS/broker/heap/maximum')) >= heap)
})

test('load averages are per-minute rates damped over 1, 5 and 15 minutes, as Mosquitto computes them', () => {
  const b = source()
  const state = new SysState()
  sysValues(b, state, 0) // the first interval: nothing happened yet
  b.stats.messagesReceived = 10 // 10 in 1 s: 600 a minute
  b.stats.socketsOpened = 1
  const v = new Map(sysValues(b, state, 1000))
  const damped = (rate: number, window: number, dt: number): number => rate * (1 - Math.exp(-dt / window))
  assert.equal(v.get('$SYS/broker/load/messages/received/1min'), damped(600, 60, 1).toFixed(2))
  assert.equal(v.get('$SYS/broker/load/messages/received/5min'), damped(600, 300, 1).toFixed(2))
  assert.equal(v.get('$SYS/broker/load/messages/received/15min'), damped(600, 900, 1).toFixed(2))
  assert.equal(v.get('$SYS/broker/load/sockets/1min'), damped(60, 60, 1).toFixed(2))
  assert.equal(v.get('$SYS/broker/load/connections/1min'), '0.00')
  // nothing more for 59 s: the average decays towards 0
  const later = new Map(sysValues(b, state, 60_000))
  const after = damped(600, 60, 1) * Math.exp(-59 / 60)
  assert.equal(later.get('$SYS/broker/load/messages/received/1min'), after.toFixed(2))
  for (const [topic, value] of later) {
    if (topic.startsWith('$SYS/broker/load/')) assert.match(value, /^\d+\.\d\d$/, topic)
  }
})

test('a cluster node publishes $SYS/broker/cluster/...: its name, the nodes, messages across nodes, the stream', () => {
  const single = sysValues(source()).map(([t]) => t)
  assert.deepEqual(
    single.filter((t) => t.startsWith('$SYS/broker/cluster/')),
    [],
    'a single node publishes none',
  )
  const status: ClusterStatus = {
    node: 'n0',
    connected: true,
    server: '127.0.0.1:4222',
    nodes: [
      { node: 'n1', lastSeen: 1, connections: 3 },
      { node: 'n2', lastSeen: 1, connections: 4 },
    ],
    forwarded: 120,
    received: 80,
    pendingAcks: 2,
    interest: 5,
    sessions: 6,
    stream: null,
  }
  const before = new Map(sysValues({ ...source(), clusterStatus: status }))
  assert.equal(before.get('$SYS/broker/cluster/node'), 'n0')
  assert.equal(before.get('$SYS/broker/cluster/nodes'), '3', 'the other two and this one')
  assert.equal(before.get('$SYS/broker/cluster/messages/forwarded'), '120')
  assert.equal(before.get('$SYS/broker/cluster/messages/received'), '80')
  assert.equal(before.has('$SYS/broker/cluster/stream/messages'), false, 'not before the stream is read')
  status.stream = { messages: 42, bytes: 4200, consumers: 2, at: 1 }
  const read = new Map(sysValues({ ...source(), clusterStatus: status }))
  assert.equal(read.get('$SYS/broker/cluster/stream/messages'), '42')
})
