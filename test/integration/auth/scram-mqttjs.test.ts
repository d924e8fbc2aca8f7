/**
 * SCRAM-SHA-256 with MQTT.js (protocolVersion 5) as the client: its own CONNECT and AUTH
 * encoding, its handleAuth hook answering the broker's AUTH 0x18 with scramClient's proof,
 * and the server signature in its CONNACK verified [MQTT-4.12.0-2] [MQTT-4.12.0-3] [MQTT-4.12.0-5].
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { connect, type IConnackPacket, type MqttClient } from 'mqtt'
import { Broker, ReasonCode, scramClient, scramCredentials, scramServer } from '../../../src/index.js'
import { LOOPBACK } from '../../helpers/net.js'

const T = { timeout: 20_000 }
const METHOD = 'SCRAM-SHA-256'

const users = new Map([['alice', await scramCredentials('wonderland')]])
const broker = new Broker({ sysInterval: 0, hooks: [scramServer({ lookup: (name) => users.get(name) })] })
const { port } = await broker.listen({ port: 0, host: LOOPBACK })
const clients: MqttClient[] = []
after(async () => {
  for (const c of clients) c.end(true)
  await broker.close()
})

/** MQTT.js with scramClient doing the SCRAM part; resolves with the CONNACK, or rejects with its error. */
function mqttjs(
  username: string,
  password: string,
): Promise<{ connack: IConnackPacket; client: MqttClient }> {
  const scram = scramClient(username, password)
  const client = connect({
    host: LOOPBACK,
    port,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    properties: { authenticationMethod: METHOD, authenticationData: scram.start() },
  })
  clients.push(client)
  client.handleAuth = (packet, callback) => {
    scram.challenge(packet.properties?.authenticationData).then(
      (answer) =>
        callback(undefined, {
          cmd: 'auth',
          reasonCode: ReasonCode.CONTINUE_AUTHENTICATION,
          properties: { authenticationMethod: METHOD, authenticationData: answer },
        }),
      (err: Error) => callback(err),
    )
  }
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => {
      try {
        scram.done(connack.properties?.authenticationData) // the broker proves it knows alice's keys
        resolve({ connack, client })
      } catch (err) {
        reject(err)
      }
    })
    client.once('error', reject)
  })
}

test('MQTT.js authenticates with SCRAM-SHA-256 and verifies the broker', T, async () => {
  const { connack, client } = await mqttjs('alice', 'wonderland')
  assert.equal(connack.reasonCode, ReasonCode.SUCCESS)
  assert.equal(connack.properties?.authenticationMethod, METHOD)
  await client.publishAsync('scram/mqttjs', 'hello', { qos: 1 })
})

test('MQTT.js with a wrong password is refused with CONNACK 0x87', T, async () => {
  const err = await mqttjs('alice', 'looking-glass').then(
    () => assert.fail('should be refused'),
    (e: { code?: number }) => e,
  )
  assert.equal(err.code, ReasonCode.NOT_AUTHORIZED)
})
