import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Decoder, encode, type Packet, PacketType } from '../../../src/protocol/index.js'

test('a PINGREQ round-trips through encoder and decoder', () => {
  const got: Packet[] = []
  new Decoder((p) => got.push(p)).push(encode({ type: PacketType.PINGREQ }))
  assert.deepEqual(got, [{ type: PacketType.PINGREQ }])
})
