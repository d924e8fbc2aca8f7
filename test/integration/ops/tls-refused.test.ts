/** A failed TLS handshake is a refused connection: counted by its reason and told. */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Broker } from '../../../src/broker/broker.js'
import type { NotableEvent } from '../../../src/broker/events.js'
import { makePki, opensslSkip, type Pki } from '../../helpers/certs.js'
import { LOOPBACK } from '../../helpers/net.js'
import { delay } from '../../helpers/raw-client.js'

describe('refused TLS handshakes', { skip: opensslSkip() }, () => {
  let pki: Pki
  let broker: Broker
  before(async () => {
    pki = await makePki()
    broker = new Broker({ sysInterval: 0 })
  })
  after(async () => {
    await broker?.close()
    await pki?.remove()
  })

  test('counts a handshake that fails as refused (tls) and tells it with the address', async () => {
    const events: NotableEvent[] = []
    broker.on('notable', (e) => events.push(e))
    const l = await broker.listen({
      protocol: 'mqtts',
      port: 0,
      host: LOOPBACK,
      cert: pki.serverCert,
      key: pki.serverKey,
    })
    const plain = netConnect({ port: l.port, host: LOOPBACK })
    plain.on('error', () => {})
    await new Promise((resolve) => plain.once('connect', resolve))
    plain.write('this is not a TLS ClientHello\r\n\r\n')
    await new Promise((resolve) => plain.once('close', resolve))
    for (let i = 0; i < 100 && broker.stats.refused.tls === 0; i++) await delay(10)
    assert.equal(broker.stats.refused.tls, 1)
    assert.equal(broker.stats.tlsHandshakeFailures, 1)
    assert.equal(broker.stats.socketsOpened, 0, 'it never reached the broker')
    const e = events.find((x) => x.kind === 'refused')
    assert.equal(e?.remoteAddress, LOOPBACK)
  })
})
