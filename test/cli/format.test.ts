/**
 * `petrel sub -F`: the format parser and printer on their own (no broker), for what the
 * process tests cannot pin down: widths, escapes, times, repeated properties, JSON.
 * Expected strings are those of mosquitto_sub 2.0 for the same format and message.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type FormatMessage, formatMessage, parseFormat } from '../../src/cli/format.js'

const message: FormatMessage = {
  topic: 'a/b',
  payload: Buffer.from('hi'),
  qos: 1,
  retain: false,
  packetId: 7,
  properties: {
    payloadFormatIndicator: 1,
    messageExpiryInterval: 50,
    contentType: 'text/plain',
    responseTopic: 'r/t',
    correlationData: Buffer.from('cd'),
    userProperties: [
      ['k', '1'],
      ['j', '2'],
      ['k', '3'],
    ],
    subscriptionIdentifiers: [4, 9],
  },
}
const bare: FormatMessage = {
  topic: 't',
  payload: Buffer.alloc(0),
  qos: 0,
  retain: true,
  packetId: 0,
  properties: undefined,
}
// 2026-12-01 16:05:09.123 local time
const when = new Date(2026, 11, 1, 16, 5, 9, 123)

function out(format: string, m: FormatMessage = message): string {
  return formatMessage(parseFormat(format), m, when).toString('latin1')
}

describe('petrel sub -F format', () => {
  test('MQTT 5 property fields, empty when absent', () => {
    assert.equal(out('%A|%C|%D|%E|%F|%P|%R|%S'), '|text/plain|cd|50|1|k:1 j:2 k:3|r/t|4,9')
    assert.equal(out('%A|%C|%D|%E|%F|%P|%R|%S', bare), '|||||||')
  })

  test('message fields: topic, payload, QoS, retain, length, packet id, hex', () => {
    assert.equal(out('%t %p %q %r %l %m %x %X'), 'a/b hi 1 0 2 7 6869 6869')
    assert.equal(out('%t %q %r %l %m', bare), 't 0 1 0 0')
  })

  test("widths, '-' and '0' flags, and maximum widths where mosquitto_sub takes them", () => {
    assert.equal(
      out('[%6t][%-6t][%.1t][%3.3C][%05l][%-5l][%05t][%4q]'),
      '[   a/b][a/b   ][a][tex][00002][2    ][  a/b][1]',
    )
    // An absent number still fills its width (with zeros under '0'), as mosquitto_sub does.
    assert.equal(out('[%4E][%-4F][%04S]', bare), '[    ][    ][0000]')
  })

  test('escapes and literals', () => {
    assert.equal(out('%%\\t\\n\\\\\\0\\e\\a\\r\\v@@'), '%\t\n\\\0\x1b\x07\r\v@')
  })

  test('@ sequences are strftime letters; %I and %U the time', () => {
    assert.equal(
      out('@Y-@m-@d @H:@M:@S @F @T @y @j @N'),
      '2026-12-01 16:05:09 2026-12-01 16:05:09 26 335 123000000',
    )
    assert.match(out('%I'), /^2026-12-01T16:05:09[+-]\d{4}$/)
    assert.equal(out('%U'), `${Math.floor(when.getTime() / 1000)}.123000000`)
  })

  test('%j: JSON with mid at QoS > 0, properties by their mosquitto names in the order they came, repeated names kept', () => {
    const json = out('%j').replace(/"tst":"[^"]*"/, '"tst":"T"')
    assert.equal(
      json,
      '{"tst":"T","topic":"a/b","qos":1,"retain":0,"payloadlen":2,"mid":7,"properties":{' +
        '"payload-format-indicator":1,"message-expiry-interval":50,"content-type":"text/plain","response-topic":"r/t",' +
        '"correlation-data":"cd","user-properties":{"k":"1","j":"2","k":"3"},"subscription-identifier":4,' +
        '"subscription-identifier":9},"payload":"hi"}',
    )
    assert.equal(
      out('%j', bare).replace(/"tst":"[^"]*"/, '"tst":"T"'),
      '{"tst":"T","topic":"t","qos":0,"retain":1,"payloadlen":0,"payload":""}',
    )
  })

  test('%J puts a JSON payload in as it is, and refuses one that is not JSON', () => {
    const m = { ...bare, payload: Buffer.from('{"a":[1,2]}') }
    assert.match(out('%J', m), /,"payload":\{"a":\[1,2\]\}\}$/)
    assert.throws(() => out('%J', { ...bare, payload: Buffer.from('not json') }), /not valid JSON on topic t/)
  })

  test('a bad sequence is refused when the format is parsed', () => {
    assert.throws(() => parseFormat('%z'), /Invalid format specifier 'z'/)
    assert.throws(() => parseFormat('abc%'), /Incomplete format specifier '%'/)
    assert.throws(() => parseFormat('\\q'), /Invalid escape specifier 'q'/)
  })
})
