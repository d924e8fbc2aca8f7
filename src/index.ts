/** petrel: MQTT broker and client for Node.js. */

export type { BrokerEvents, BrokerStats, PublishedMessage } from './broker/broker.js'
export { Broker } from './broker/broker.js'
export type {
  Authenticate,
  AuthorizePublish,
  AuthorizeSubscribe,
  BrokerOptions,
  ClientInfo,
  Logger,
} from './broker/options.js'
export { ConfigError, PetrelError, ProtocolError } from './errors.js'
export * from './protocol/index.js'
