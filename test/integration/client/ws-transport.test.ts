/**
 * wsTransport's byte stream on its own, against a `ws` server: corked writes leave as one
 * binary message, a full buffer makes write() return false and 'drain' follows once the
 * peer reads, 'close' comes once with the server's reason.
 */
import assert from 'node:assert/strict'
import type { Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { type WebSocket, WebSocketServer } from 'ws'
import { type ByteDuplex, TransportErrorCode, wsTransport } from '../../../src/index.js'
import { WS_HIGH_WATER } from '../../../src/transport/ws-connect.js'
import { LOOPBACK } from '../../helpers/net.js'
import { until, within } from './suite.js'

describe('wsTransport', () => {
  let wss: WebSocketServer
  let port: number
  const peers: { ws: WebSocket; socket: Socket; messages: Buffer[] }[] = []

  before(async () => {
    wss = new WebSocketServer({ port: 0, host: LOOPBACK, handleProtocols: () => 'mqtt' })
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()))
    port = (wss.address() as { port: number }).port
    wss.on('connection', (ws, req) => {
      const peer = { ws, socket: req.socket, messages: [] as Buffer[] }
      ws.on('message', (data: Buffer) => peer.messages.push(data))
      peers.push(peer)
    })
  })

  after(async () => {
    for (const c of wss.clients) c.terminate()
    await new Promise((resolve) => wss.close(resolve))
  })

  function recorder() {
    const got = { data: [] as Buffer[], drains: 0, closes: [] as (Error | undefined)[] }
    const events = {
      data: (b: Buffer) => got.data.push(b),
      drain: () => got.drains++,
      close: (e: Error | undefined) => got.closes.push(e),
    }
    return { got, events }
  }

  async function open(events: ReturnType<typeof recorder>['events']): Promise<ByteDuplex> {
    const before = peers.length
    const d = await wsTransport({ url: `ws://${LOOPBACK}:${port}/mqtt` }).open(
      events,
      new AbortController().signal,
    )
    await until(() => peers.length > before, 5000, 'the server side')
    return d
  }

  test('writes between cork and uncork leave as one binary message', async () => {
    const { events } = recorder()
    const d = await open(events)
    const peer = peers.at(-1)!
    d.cork()
    assert.equal(d.write(Buffer.from([0xc0, 0])), true)
    assert.equal(d.write(Buffer.from([0xc0, 0])), true)
    d.uncork()
    d.write(Buffer.from([0xe0, 0]))
    await until(() => peer.messages.length === 2, 5000, 'two messages')
    assert.deepEqual(peer.messages, [Buffer.from([0xc0, 0, 0xc0, 0]), Buffer.from([0xe0, 0])])
    d.destroy()
  })

  test('a full buffer returns false, and drain follows once the server reads again', async () => {
    const { got, events } = recorder()
    const d = await open(events)
    const peer = peers.at(-1)!
    peer.socket.pause() // the server stops reading: the client's socket buffer fills
    const chunk = Buffer.alloc(WS_HIGH_WATER, 1)
    let writes = 0
    while (d.write(chunk) && writes < 10_000) writes++
    assert.ok(writes < 10_000, 'write() returned false')
    assert.equal(got.drains, 0)
    peer.socket.resume()
    await until(() => got.drains === 1, 10_000, 'drain')
    await until(() => peer.messages.length === writes + 1, 10_000, 'every message')
    d.destroy()
  })

  test('reads binary messages as bytes, and reports the close once with its reason', async () => {
    const { got, events } = recorder()
    const d = await open(events)
    const peer = peers.at(-1)!
    peer.ws.send(Buffer.from([0x20, 2, 0, 0]))
    await until(() => got.data.length === 1, 5000, 'data')
    assert.deepEqual(got.data[0], Buffer.from([0x20, 2, 0, 0]))
    peer.ws.close(4000, 'going away for a test')
    await until(() => got.closes.length === 1, 5000, 'close')
    const err = got.closes[0] as Error & { code: string }
    assert.equal(err.code, TransportErrorCode.WS_CLOSED)
    assert.match(err.message, /code 4000: going away for a test/)
    d.destroy()
    await within(new Promise((r) => setTimeout(r, 50)), 1000, 'a moment')
    assert.equal(got.closes.length, 1)
  })

  test('end() sends what is queued, then closes normally', async () => {
    const { got, events } = recorder()
    const d = await open(events)
    const peer = peers.at(-1)!
    const closed = new Promise<number>((resolve) => peer.ws.once('close', (code) => resolve(code)))
    d.write(Buffer.from([0xe0, 0]))
    d.end()
    assert.equal(await within(closed, 5000, 'the server to see the close'), 1000)
    await until(() => got.closes.length === 1, 5000, 'close')
    assert.equal(got.closes[0], undefined)
    assert.deepEqual(peer.messages, [Buffer.from([0xe0, 0])])
  })
})
