/**
 * The transport seam, for the client and the broker alike: anything that yields an
 * ordered byte duplex (TCP today; TLS and WebSocket next) plugs in here without
 * touching a state machine. A client opens one with a Transport; a broker is handed
 * them by a Listener.
 */

/** What the transport reports about an open byte stream. Called with no overlap. */
export interface DuplexEvents {
  /** Bytes read. The receiver owns the chunk: a transport never reuses or changes it. */
  data(chunk: Buffer): void
  /** The stream's write buffer went back under its limit after `write` returned false. */
  drain(): void
  /** The stream is closed for good (by either side), with the error that closed it, if any. Called once. */
  close(error: Error | undefined): void
}

/** An open byte stream. */
export interface ByteDuplex {
  /** Queues bytes; false when the stream's buffer is over its limit (wait for `drain`). */
  write(bytes: Buffer): boolean
  /** Groups the writes that follow until `uncork` into as few system calls as possible. */
  cork(): void
  uncork(): void
  /** Stops or resumes reading (backpressure from the consumer). */
  pause(): void
  resume(): void
  /** Sends what is queued, then closes. `close` follows. */
  end(): void
  /** Closes at once, dropping what is queued. `close` follows. */
  destroy(): void
}

/**
 * A byte stream a broker serves: what the broker's back-pressure reads comes from the
 * transport itself (a socket's buffer, a WebSocket's buffered amount).
 */
export interface ServedDuplex extends ByteDuplex {
  /** True while reading is stopped by `pause`. */
  readonly paused: boolean
  /** Bytes written and not yet taken by the network. */
  readonly backlog: number
  /** Bytes the network has taken so far: grows while the peer reads. */
  readonly taken: number
  /** Like destroy, and tells the peer the connection was reset where the transport can (TCP RST). */
  reset(): void
  /**
   * The broker accepted the client (CONNACK 0): a transport that holds whole messages before
   * the broker sees them (WebSocket) takes messages up to maxPacketSize from now on.
   */
  accepted?(): void
}

/**
 * Opens one connection. Resolves once bytes can be written; rejects when the
 * connection cannot be made or `signal` aborts first. After it resolves,
 * `events` are called for this stream only.
 */
export interface Transport {
  /** For messages and logs, e.g. `tcp://127.0.0.1:1883`. */
  readonly name: string
  open(events: DuplexEvents, signal: AbortSignal): Promise<ByteDuplex>
}

/** A connection a Listener accepted: the broker attaches its events and gets the byte stream. */
export interface Incoming {
  readonly remoteAddress: string | undefined
  /** The verified client certificate's subject CN (TLS listeners that asked for one); else undefined. */
  readonly identity?: string | undefined
  /** The listener that accepted it, e.g. `mqtts://0.0.0.0:8883`. */
  readonly listener?: string
  open(events: DuplexEvents): ServedDuplex
}

/** A server socket (TCP, TLS, WebSocket): it hands each accepted connection on. */
export interface Listener {
  /** e.g. `mqtt://127.0.0.1:1883`, `wss://0.0.0.0:8884/mqtt`. */
  readonly name: string
  readonly port: number
  readonly host: string
  /**
   * Stops accepting at once; TLS handshakes and HTTP upgrades under way are closed, the
   * connections already handed on stay (their owner closes them).
   */
  close(): Promise<void>
}

/**
 * What a listener reports besides the connections it accepts: a connection it turned away
 * before MQTT began (over maxConnections, a failed or timed-out TLS handshake, a refused
 * WebSocket upgrade), and errors of the server socket itself. Counted and logged by the broker.
 */
export interface ListenerReport {
  refused(kind: RefusalKind, why: string, remoteAddress: string | undefined): void
  error(err: Error): void
}

export type RefusalKind = 'max-connections' | 'tls-handshake' | 'websocket-upgrade'

/** What every listener takes: where, how many connections at once, and whom to tell. */
export interface ListenBase {
  port?: number
  host?: string
  /** Connections at once on this listener; one more is closed as soon as it is accepted. Default unlimited. */
  maxConnections?: number
  report?: ListenerReport
}

/** `host:port` as a URL authority (IPv6 in brackets). */
export function authority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** A URL's host as a socket takes it: an IPv6 address without its brackets. */
export function urlHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
}
