import { isIPv6 } from 'node:net'
import type { LimitLog } from './limits.js'
import type { ResolvedOptions } from './options.js'
import { topUp } from './token-bucket.js'

/** One address's connections and its bucket of new-connection tokens. */
interface Entry {
  open: number
  tokens: number
  /** When `tokens` was last topped up (ms, monotonic). */
  at: number
}

/** Entries are swept (those with no connection and a full bucket dropped) when the map doubles past this. */
const SWEEP_FLOOR = 1024

/**
 * The per-address limits, checked when a connection is accepted, before anything is read:
 * maxConnectionsPerIp (connections at once) and connectionRatePerIp (new connections per
 * second, a token bucket holding one second's worth). An IPv6 address counts by its /64, the
 * block one host is usually given; an IPv4-mapped IPv6 address as its IPv4 address. Memory
 * is bounded: an address is kept while it has connections or its bucket is refilling.
 */
export class IpLimits {
  private readonly entries = new Map<string, Entry>()
  private readonly options: ResolvedOptions
  private readonly log: LimitLog
  private nextSweep = SWEEP_FLOOR

  constructor(options: ResolvedOptions, log: LimitLog) {
    this.options = options
    this.log = log
  }

  /** Addresses tracked now (for tests). */
  get size(): number {
    return this.entries.size
  }

  /**
   * A connection from `address` was accepted at `now` (ms, monotonic): its key, to give
   * `release` when it ends, or null when a limit refuses it (counted and logged).
   * Connections without an address (a stream given to Broker.handle) are not limited.
   */
  admit(address: string | undefined, now: number): string | null | undefined {
    if (address === undefined || address === '') return undefined
    const o = this.options
    // Loopback is exempt by default: the usual local addresses are known without a key.
    if (o.loopbackPerIp.maxConnections === 0 && o.loopbackPerIp.rate === 0 && plainLoopback(address)) {
      return undefined
    }
    const key = addressKey(address)
    const loopback = isLoopback(key)
    const max = loopback ? o.loopbackPerIp.maxConnections : o.maxConnectionsPerIp
    const rate = loopback ? o.loopbackPerIp.rate : o.connectionRatePerIp
    if (max === 0 && rate === 0) return undefined
    let e = this.entries.get(key)
    if (e === undefined) {
      if (this.entries.size >= this.nextSweep) this.sweep(now)
      e = { open: 0, tokens: rate, at: now }
      this.entries.set(key, e)
    } else if (rate > 0) {
      e.tokens = topUp(e.tokens, e.at, now, rate)
      e.at = now
    }
    if (max > 0 && e.open >= max) {
      this.log.hit(
        'connections-per-ip',
        key,
        `refused a connection from ${key}: ${max} connections from it already (maxConnectionsPerIp; raise it if many clients share the address)`,
      )
      return null
    }
    if (rate > 0) {
      if (e.tokens < 1) {
        this.log.hit(
          'connection-rate-per-ip',
          key,
          `refused a connection from ${key}: more than ${rate} new connections per second from it (connectionRatePerIp)`,
        )
        return null
      }
      e.tokens -= 1
    }
    e.open++
    return key
  }

  /** A connection admitted under `key` ended. */
  release(key: string, now: number): void {
    const e = this.entries.get(key)
    if (e === undefined) return
    e.open--
    if (e.open <= 0 && this.full(e, key, now)) this.entries.delete(key)
  }

  private full(e: Entry, key: string, now: number): boolean {
    const o = this.options
    const rate = isLoopback(key) ? o.loopbackPerIp.rate : o.connectionRatePerIp
    return rate === 0 || topUp(e.tokens, e.at, now, rate) >= rate
  }

  /** Drops the addresses that have no connection and a full bucket: they are as if never seen. */
  private sweep(now: number): void {
    for (const [key, e] of this.entries) if (e.open <= 0 && this.full(e, key, now)) this.entries.delete(key)
    this.nextSweep = Math.max(SWEEP_FLOOR, this.entries.size * 2)
  }
}

/** The key an address is counted under: IPv4 as is; IPv6 by its first 64 bits. */
export function addressKey(address: string): string {
  const a = address.toLowerCase()
  if (a.startsWith('::ffff:') && a.includes('.')) return a.slice(7)
  if (!isIPv6(a)) return a
  return `${expand(a).slice(0, 4).join(':')}::/64`
}

/** The eight groups of an IPv6 address (without a zone), '::' expanded; an embedded IPv4 tail as two groups. */
function expand(a: string): string[] {
  const bare = a.split('%')[0]!
  const [head, tail] = bare.split('::') as [string, string | undefined]
  const parts = (s: string | undefined): string[] => {
    if (s === undefined || s === '') return []
    return s.split(':').flatMap((g) => {
      if (!g.includes('.')) return [g.replace(/^0+(?=.)/, '')]
      const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = g.split('.').map(Number)
      return [((b0 << 8) | b1).toString(16), ((b2 << 8) | b3).toString(16)]
    })
  }
  const h = parts(head)
  const t = parts(tail)
  const zeros = tail === undefined ? [] : Array.from({ length: 8 - h.length - t.length }, () => '0')
  return [...h, ...zeros, ...t]
}

/** The common spellings of a loopback address, told without a key (each one's key is loopback too). */
function plainLoopback(address: string): boolean {
  return (
    address.startsWith('127.') ||
    address === '::1' ||
    address.startsWith('::ffff:127.') ||
    address === 'localhost'
  )
}

function isLoopback(key: string): boolean {
  return key.startsWith('127.') || key === '0:0:0:0::/64' || key === 'localhost'
}
