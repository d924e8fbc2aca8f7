import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ConnackRefusedError, connect, type Transport } from '../../../src/index.js'
import { Decoder, encode, type Packet, PacketType } from '../../../src/protocol/index.js'
import type { ByteDuplex, DuplexEvents } from '../../../src/transport/transport.js'

/**
 * A broker scripted in memory behind the Transport seam: `answer` gets each packet
 * the client sends and returns the packets to send back, all in one read.
 */
function scripted(answer: (p: Packet, conn: number) => Packet[]): Transport & { connections: number } {
  const t = {
    name: 'memory://scripted',
    connections: 0,
    open(events: DuplexEvents): Promise<ByteDuplex> {
      const conn = ++t.connections
      let closed = false
      const close = (): void => {
        if (closed) return
        closed = true
        queueMicrotask(() => events.close(undefined))
      }
      const decoder = new Decoder((p) => {
        const out = answer(p, conn)
        if (out.length > 0) {
          const bytes = Buffer.concat(out.map((o) => encode(o)))
          setImmediate(() => {
            if (!closed) events.data(bytes)
          })
        }
      })
      return Promise.resolve({
        write: (b: Buffer) => {
          decoder.push(Buffer.from(b))
          return true
        },
        cork() {},
        uncork() {},
        pause() {},
        resume() {},
        end: close,
        destroy: close,
      })
    },
  }
  return t
}

const publish = (n: number): Packet => ({
  type: PacketType.PUBLISH,
  topic: 'queued',
  payload: Buffer.from(String(n)),
  qos: 1,
  retain: false,
  dup: false,
  packetId: n + 1,
})

describe('client over an in-memory transport', () => {
  test('messages in the same read as CONNACK reach a listener attached after connect resolves', async () => {
    const transport = scripted((p) =>
      p.type === PacketType.CONNECT
        ? [
            { type: PacketType.CONNACK, sessionPresent: true, returnCode: 0 },
            publish(0),
            publish(1),
            publish(2),
          ]
        : [],
    )
    const c = await connect('mqtt://unused', { transport, clientId: 'c', clean: false })
    assert.equal(c.sessionPresent, true)
    const got: string[] = []
    c.on('message', (topic, payload) => got.push(`${topic} ${payload}`))
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(got, ['queued 0', 'queued 1', 'queued 2'])
    await c.end()
  })

  test('a refusal rejects connect with the CONNACK return code', async () => {
    const transport = scripted(() => [{ type: PacketType.CONNACK, sessionPresent: false, returnCode: 5 }])
    await assert.rejects(
      connect('mqtt://unused', { transport }),
      (e: unknown) =>
        e instanceof ConnackRefusedError && e.returnCode === 5 && e.code === 'PETREL_CONNACK_REFUSED',
    )
  })

  test('a broker that sends something other than CONNACK first is dropped', async () => {
    const transport = scripted(() => [{ type: PacketType.PINGRESP }])
    await assert.rejects(connect('mqtt://unused', { transport }), { code: 'PETREL_CONNECT_FAILED' })
  })

  test('end() writes DISCONNECT and resolves once the transport closed', async () => {
    const seen: number[] = []
    const transport = scripted((p) => {
      seen.push(p.type)
      return p.type === PacketType.CONNECT
        ? [{ type: PacketType.CONNACK, sessionPresent: false, returnCode: 0 }]
        : []
    })
    const c = await connect('mqtt://unused', { transport })
    await c.end()
    assert.equal(c.state, 'closed')
    assert.deepEqual(seen, [PacketType.CONNECT, PacketType.DISCONNECT])
  })
})
