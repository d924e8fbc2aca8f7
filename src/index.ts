/** petrel: MQTT broker and client for Node.js. */

// issue 13: acl
export { AclFile, aclHooks } from './auth/acl.js'
// issue 13: credentials
export {
  formatSecret,
  MAX_PASSWORD_ITERATIONS,
  MOSQUITTO_ITERATIONS,
  type PasswordHash,
  parsePasswordFile,
} from './auth/password-file.js'
export {
  PasswordFile,
  type PasswordFileHookOptions,
  type PasswordFileOptions,
  passwordFileHooks,
} from './auth/password-file-hooks.js'
export { type HashOptions, hashPassword, verifyPassword } from './auth/password-hash.js'
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
export type {
  BrokerAdmin,
  ClientDetail,
  ClientQuery,
  ClientSummary,
  DeliveryTotals,
  Page,
  PageQuery,
  RetainedInfo,
  RetainedQuery,
  SubscriptionInfo,
  SubscriptionQuery,
} from './broker/admin.js'
export { Broker } from './broker/broker.js'
export type {
  BrokerEvents,
  BrokerStats,
  ByVersionQos,
  CommitHistogram,
  DropCounts,
  NotableEvent,
  NotableKind,
  PublishedMessage,
  RefusedCounts,
} from './broker/events.js'
export type { LimitCounts, LimitName } from './broker/limits.js'
export type { ListenerInfo, ListenOptions, ListenProtocol } from './broker/listen-options.js'
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
export type { BusiestTopics, BusyTopic } from './broker/topic-sample.js'
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
export { DEFAULT_WS_PATH, type TransportOptions } from './client/transport-for.js'
export { ConfigError, PetrelError, ProtocolError } from './errors.js'
// issue 14: the operator's HTTP endpoint
export { type HttpEndpoint, type HttpOptions, startHttp } from './http/server.js'
export * from './protocol/index.js'
export { Await } from './session/outbound.js'
export { MemoryStore } from './store/memory/memory-store.js'
export { type CheckpointStats, SqliteStore, type SqliteStoreOptions } from './store/sqlite/sqlite-store.js'
export type { Store, StoredDelivery, StoredMessage, StoredSession, StoreSnapshot } from './store/store.js'
export { TransportError, TransportErrorCode } from './transport/connect-errors.js'
export { tcpTransport } from './transport/tcp-connect.js'
export { type TlsConnectOptions, tlsTransport } from './transport/tls-connect.js'
export type { Pem, TlsClientOptions } from './transport/tls-options.js'
export type { ByteDuplex, DuplexEvents, Transport } from './transport/transport.js'
export { MQTT_SUBPROTOCOL, type WsConnectOptions, wsTransport } from './transport/ws-connect.js'
