import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { makePki, opensslSkip, type Pki } from '../helpers/certs.js'

describe('test PKI helper', { skip: opensslSkip() }, () => {
  let pki: Pki
  before(async () => {
    pki = await makePki()
  })
  after(() => pki?.remove())

  it('issues a server certificate for localhost and 127.0.0.1 signed by the CA', () => {
    const ca = new X509Certificate(pki.ca)
    const server = new X509Certificate(pki.serverCert)
    assert.equal(server.verify(ca.publicKey), true)
    assert.equal(server.checkHost('localhost'), 'localhost')
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1')
  })

  it('issues client certificates: alice from the CA, mallory from another CA, old expired', () => {
    const ca = new X509Certificate(pki.ca)
    const alice = new X509Certificate(pki.clientCert)
    assert.match(alice.subject, /CN=alice/)
    assert.equal(alice.verify(ca.publicKey), true)
    const mallory = new X509Certificate(pki.rogueCert)
    assert.equal(mallory.verify(ca.publicKey), false)
    if (pki.expiredCert.length > 0) {
      const old = new X509Certificate(pki.expiredCert)
      assert.ok(new Date(old.validTo).getTime() < Date.now())
    }
  })
})
