import { shownCluster } from './cluster-settings.js'
import type { BrokerSettings } from './config.js'

/**
 * The settings as /api/v1/broker shows them (the admin API redacts secrets by key name): plain
 * JSON values, and no password even before redaction, only the user names.
 */
export function shownSettings(s: BrokerSettings): Record<string, unknown> {
  const out: Record<string, unknown> = {
    port: s.port,
    host: s.host,
    memory: s.memory,
    sync: s.sync,
    logLevel: s.logLevel,
    allowAnonymous: s.allowAnonymous,
    ...s.broker,
    listeners: s.listeners.map((l) => ({ ...l })),
  }
  if (s.dataDir !== undefined) out.dataDir = s.dataDir
  if (s.users !== undefined)
    out.users = Object.fromEntries([...s.users.keys()].map((name) => [name, '[redacted]']))
  if (s.passwordFile !== undefined) out.passwordFile = s.passwordFile
  if (s.aclFile !== undefined) out.aclFile = s.aclFile
  if (s.http !== undefined) {
    const { certfile, keyfile, tokenFile, ...rest } = s.http
    const http: Record<string, unknown> = { ...rest }
    if (certfile !== undefined) http.certfile = certfile
    if (keyfile !== undefined) http.keyfile = keyfile
    if (tokenFile !== undefined) http.tokenFile = tokenFile
    out.http = http
  }
  if (s.cluster !== undefined) out.cluster = shownCluster(s.cluster)
  if (s.workers > 1) out.workers = s.workers
  return out
}
