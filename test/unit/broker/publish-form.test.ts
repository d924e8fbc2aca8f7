import assert from 'node:assert/strict'
import { test } from 'node:test'
import { convertPublish } from '../../../src/broker/publish-form.js'
import { encode, PacketType } from '../../../src/protocol/index.js'
import { hex } from '../../helpers/raw-client.js'

const v3 = encode({
  type: PacketType.PUBLISH,
  topic: 'a/b',
  payload: Buffer.from('hi'),
  qos: 1,
  retain: true,
  dup: true,
  packetId: 0x1234,
})
// the same PUBLISH in the MQTT 5 form: property length 10, Content Type 'x', User Property ('k','')
const v5 = hex('3b 14  0003 612f62  1234  0a 03 0001 78 26 0001 6b 0000  6869')

test('a QoS 1/2 PUBLISH kept for a re-send becomes MQTT 5 with an empty property list', () => {
  assert.deepEqual(convertPublish(v3, true), hex('3b 0a 0003 612f62 1234 00 6869'))
})

test('an MQTT 5 PUBLISH kept for a re-send becomes 3.1.1 without its properties', () => {
  assert.deepEqual(convertPublish(v5, false), v3)
  assert.deepEqual(convertPublish(convertPublish(v3, true), false), v3)
})

test('the remaining length may change size when properties go', () => {
  const payload = Buffer.alloc(120, 0x61)
  const props = Buffer.concat([hex('03 0008'), Buffer.from('text/xyz')]) // 11 bytes
  const rest = 2 + 1 + 2 + 1 + props.length + payload.length // 137: two length bytes
  const big = Buffer.concat([
    hex('32'),
    hex('89 01'),
    hex('0001 74 0001'),
    Buffer.from([props.length]),
    props,
    payload,
  ])
  assert.equal(rest, 137)
  const out = convertPublish(big, false)
  assert.deepEqual(out, Buffer.concat([hex('32 7d 0001 74 0001'), payload])) // 125: one byte
})
