/** petrel: MQTT broker and client for Node.js. */
export { ConfigError, PetrelError, ProtocolError } from './errors.js'
export * from './protocol/index.js'
