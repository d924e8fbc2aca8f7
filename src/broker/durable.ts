import type { Store } from '../store/store.js'

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
