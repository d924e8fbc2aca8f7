/**
 * Eclipse Paho Python (Debian's python3-paho-mqtt 1.6, an MQTT 5 client) against Petrel:
 * CONNECT with properties, PUBLISH with properties both ways (MQTT.js v5 on the other end),
 * subscription identifiers, user properties in order, and request/response.
 * The Python side is test/interop/paho/v5_client.py, run with /usr/bin/python3 (not a
 * pyenv shim, which would not see Debian's package). Without paho the suite is skipped
 * with the reason shown; under CI=true that is a failure (.ci/run installs the package).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Broker } from '../../src/broker/broker.js'
import { inCI } from '../helpers/mosquitto.js'
import { connectMqttJs, type MqttJsPeer } from '../helpers/mqttjs.js'
import { LOOPBACK } from '../helpers/net.js'

const PYTHON = '/usr/bin/python3'
// build/test/interop/ -> the source tree's test/interop/paho/
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '../../../test/interop/paho/v5_client.py')

function pahoSkip(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' })
  if (r.status === 0) return false
  const reason = `${PYTHON} cannot import paho.mqtt (Debian: apt-get install python3-paho-mqtt)`
  if (inCI()) throw new Error(`${reason}; CI=true, so interop tests must not be skipped`)
  return reason
}

interface PahoJson {
  [key: string]: unknown
  error?: string
}

/** The Python peer as a child process: its JSON lines, one at a time, each wait bounded. */
class PahoProcess {
  private readonly lines: PahoJson[] = []
  private buffer = ''
  private stderr = ''
  private exitCode: number | null = null
  private wake: (() => void) | null = null
  readonly child: ChildProcess

  constructor(args: string[]) {
    this.child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child.stdout?.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8')
      for (let i = this.buffer.indexOf('\n'); i >= 0; i = this.buffer.indexOf('\n')) {
        this.lines.push(JSON.parse(this.buffer.slice(0, i)) as PahoJson)
        this.buffer = this.buffer.slice(i + 1)
      }
      this.wake?.()
    })
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8')
    })
    this.child.on('exit', (code) => {
      this.exitCode = code ?? -1
      this.wake?.()
    })
    running.add(this)
  }

  /** The next JSON line; fails on a timeout, an {"error"} line, or an exit without one. */
  async next(timeoutMs = 12_000): Promise<PahoJson> {
    const deadline = Date.now() + timeoutMs
    while (this.lines.length === 0) {
      if (this.exitCode !== null) assert.fail(`paho exited (${this.exitCode}) without output: ${this.stderr}`)
      const left = deadline - Date.now()
      if (left <= 0) assert.fail(`no line from paho within ${timeoutMs} ms: ${this.stderr}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wake = () => {
          clearTimeout(timer)
          this.wake = null
          resolve()
        }
      })
    }
    const line = this.lines.shift()!
    if (line.error !== undefined) assert.fail(`paho: ${line.error}`)
    return line
  }

  kill(): void {
    if (this.exitCode === null) this.child.kill('SIGKILL')
    running.delete(this)
  }
}

const running = new Set<PahoProcess>()

describe('Paho Python (MQTT 5) against Petrel', { skip: pahoSkip() }, () => {
  let broker: Broker
  let port: number
  const peers: MqttJsPeer[] = []
  const paho = (...args: string[]): PahoProcess =>
    new PahoProcess([args[0]!, LOOPBACK, String(port), ...args.slice(1)])
  const v5 = async (): Promise<MqttJsPeer> => {
    const p = await connectMqttJs(port, { protocolVersion: 5 })
    peers.push(p)
    return p
  }

  before(async () => {
    broker = new Broker({ sysInterval: 0 })
    ;({ port } = await broker.listen({ port: 0, host: LOOPBACK }))
  })
  after(async () => {
    for (const p of running) p.kill()
    for (const p of peers) p.client.end(true)
    await broker.close()
  })

  test('a v5 CONNECT with properties and an empty client id gets CONNACK 0 with an Assigned Client Identifier [MQTT-3.2.2-16]', async () => {
    const connack = await paho('connect', '').next()
    assert.equal(connack.reasonCode, 0)
    assert.equal(connack.sessionPresent, false)
    const props = connack.properties as Record<string, unknown>
    assert.equal(typeof props.AssignedClientIdentifier, 'string')
    assert.notEqual(props.AssignedClientIdentifier, '')
  })

  test('a paho PUBLISH at QoS 0, 1 and 2 reaches an MQTT.js v5 subscriber with every property [MQTT-3.3.2-17]', async () => {
    const sub = await v5()
    await sub.client.subscribeAsync('paho/in/#', { qos: 2 })
    const pub = paho('pub', 'paho/in/x')
    assert.equal((await pub.next()).acks, 3, 'PUBACK and PUBCOMP reached paho')
    const got = await sub.inbox.take(3)
    assert.deepEqual(got.map((m) => m.payload.toString()).sort(), ['paho qos 0', 'paho qos 1', 'paho qos 2'])
    for (const m of got) {
      const p = m.properties ?? {}
      assert.equal(p.payloadFormatIndicator, true, '[MQTT-3.3.2-4]')
      assert.equal(p.contentType, 'text/plain', '[MQTT-3.3.2-20]')
      assert.equal(p.responseTopic, 'paho/reply', '[MQTT-3.3.2-15]')
      assert.deepEqual(p.correlationData, Buffer.from('corr-1'), '[MQTT-3.3.2-16]')
      assert.ok(p.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 300, '[MQTT-3.3.2-6]')
      // MQTT.js groups user properties by name; the order across names is checked paho to paho below.
      assert.deepEqual({ ...p.userProperties }, { a: ['1', '3'], b: '2' })
    }
  })

  test('paho to paho through Petrel: interleaved user properties keep their exact order [MQTT-3.3.2-18]', async () => {
    const sub = paho('sub', 'paho/order/#', '3')
    await sub.next()
    const pub = paho('pub', 'paho/order/x')
    assert.equal((await pub.next()).acks, 3)
    for (let i = 0; i < 3; i++) {
      const m = await sub.next()
      assert.deepEqual((m.properties as Record<string, unknown>).UserProperty, [
        ['a', '1'],
        ['b', '2'],
        ['a', '3'],
      ])
    }
  })

  test('an MQTT.js v5 PUBLISH reaches a paho subscriber with its properties and the Subscription Identifier [MQTT-3.3.4-3]', async () => {
    const sub = paho('sub', 'paho/out/#', '2')
    const ready = await sub.next()
    assert.deepEqual(ready.suback, [2], 'SUBACK grants QoS 2')
    const pub = await v5()
    await pub.client.publishAsync('paho/out/1', 'from mqtt.js', {
      qos: 1,
      properties: { contentType: 'text/plain', userProperties: { k: 'v' }, payloadFormatIndicator: true },
    })
    await pub.client.publishAsync('paho/out/2', 'second', {
      qos: 2,
      properties: { messageExpiryInterval: 60 },
    })
    const first = await sub.next()
    const second = await sub.next()
    assert.equal(first.topic, 'paho/out/1')
    assert.equal(first.payload, 'from mqtt.js')
    const p1 = first.properties as Record<string, unknown>
    assert.equal(p1.ContentType, 'text/plain')
    assert.equal(p1.PayloadFormatIndicator, 1)
    assert.deepEqual(p1.UserProperty, [['k', 'v']])
    assert.deepEqual(p1.SubscriptionIdentifier, [7])
    const p2 = second.properties as Record<string, unknown>
    assert.equal(second.qos, 2)
    assert.ok(typeof p2.MessageExpiryInterval === 'number' && p2.MessageExpiryInterval <= 60)
  })

  test('request/response: a paho requester gets the reply an MQTT.js responder sends to its Response Topic with its Correlation Data (4.10)', async () => {
    const responder = await v5()
    await responder.client.subscribeAsync('paho/service', { qos: 1 })
    responder.client.on('message', (_topic, _payload, packet) => {
      const { responseTopic, correlationData } = packet.properties ?? {}
      if (responseTopic === undefined) return
      responder.client.publish(responseTopic, 'noon', {
        qos: 1,
        properties: correlationData === undefined ? {} : { correlationData },
      })
    })
    const reply = await paho('request', 'paho/service', 'paho/replies/1').next()
    assert.equal(reply.topic, 'paho/replies/1')
    assert.equal(reply.payload, 'noon')
    assert.equal((reply.properties as Record<string, unknown>).CorrelationData, 'req-42')
  })
})
