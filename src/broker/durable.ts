import type { Store } from '../store/store.js'
import type { Logger } from './options.js'
import type { Router } from './router.js'

/** The Store methods that change state: each is followed by an end-of-turn commit. */
const WRITES = [
  'saveSession',
  'deleteSession',
  'saveSubscription',
  'deleteSubscription',
  'addDelivery',
  'updateDelivery',
  'deleteDelivery',
  'addInboundQos2',
  'deleteInboundQos2',
  'setRetained',
] as const satisfies readonly (keyof Store)[]

/**
 * The broker's handle on its Store: every write also asks for the end-of-turn flush,
 * where the Flusher commits once and only then writes to sockets, so a PUBACK or PUBREC
 * never leaves before the message it acknowledges is durable (group commit).
 */
export function scheduleCommits(store: Store, schedule: () => void): Store {
  const writer: Partial<Store> = {
    load: () => store.load(),
    commit: () => store.commit(),
    close: () => store.close(),
  }
  for (const name of WRITES) {
    const write = (store[name] as (...args: unknown[]) => void).bind(store)
    ;(writer as Record<string, unknown>)[name] = (...args: unknown[]): void => {
      write(...args)
      schedule()
    }
  }
  return writer as Store
}

/**
 * At a clean stop, before the store closes: the retained messages of `router` to the store's
 * snapshot, when it keeps one (SqliteStore). A failure loses only the next start's fast path
 * (it reads the store's retained messages instead): logged, not thrown.
 */
export function saveRetainedSnapshot(store: Store, router: Router, log: Logger): void {
  if (store.saveRetainedSnapshot === undefined) return
  try {
    store.saveRetainedSnapshot(router.storedRetained())
  } catch (err) {
    log.warn({ err }, 'could not save the retained snapshot')
  }
}
