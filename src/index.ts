/** petrel: MQTT broker and client for Node.js. */

export {
  type CredentialOptions,
  formatScramCredentials,
  parseScramCredentials,
  type ScramAuthHandler,
  type ScramClientOptions,
  type ScramCredentials,
  ScramError,
  ScramErrorCode,
  type ScramHookOptions,
  type ScramServerOptions,
  scramClient,
  scramCredentials,
  scramServer,
  verifyScramPassword,
} from './auth/scram.js'
export { Broker } from './broker/broker.js'
export type { BrokerEvents, BrokerStats, PublishedMessage } from './broker/events.js'
export type { LimitCounts, LimitName } from './broker/limits.js'
export type {
  AuthAnswer,
  Authenticate,
  AuthorizePublish,
  AuthorizeSubscribe,
  AuthRequest,
  BrokerOptions,
  ClientInfo,
  Logger,
} from './broker/options.js'
export type * from './client/api.js'
export { Client, connect } from './client/client.js'
export {
  AuthError,
  ClientEndedError,
  ClientErrorCode,
  ConnackRefusedError,
  ConnectFailedError,
  ConnectionLostError,
  ConnectTimeoutError,
  InvalidTopicError,
  OfflineQueueFullError,
  PingTimeoutError,
  PublishRefusedError,
  PublishTimeoutError,
  RequestTimeoutError,
  ServerDisconnectError,
  type ServerLimit,
  ServerLimitError,
} from './client/errors.js'
export type { Message } from './client/inbox.js'
export type { AuthHandler, ClientOptions, Payload, ReconnectOptions, WillOptions } from './client/options.js'
export type { PublishResult } from './client/pending.js'
export type { RequestOptions } from './client/requests.js'
export { MemoryOutboundStore, type OutboundStore, type StoredFlow } from './client/store.js'
export { ConfigError, PetrelError, ProtocolError } from './errors.js'
export * from './protocol/index.js'
export { Await } from './session/outbound.js'
export { MemoryStore } from './store/memory/memory-store.js'
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite/sqlite-store.js'
export type { Store, StoredDelivery, StoredMessage, StoredSession, StoreSnapshot } from './store/store.js'
export { tcpTransport } from './transport/tcp-connect.js'
export type { ByteDuplex, DuplexEvents, Transport } from './transport/transport.js'
