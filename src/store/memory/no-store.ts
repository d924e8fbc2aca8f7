import type { Store, StoreSnapshot } from '../store.js'

/**
 * The store of a broker given none (an embedded `new Broker()`, `petrel broker --memory`):
 * it keeps nothing, because nothing could ever read it back: no other broker is handed it,
 * and the process's end takes the broker's own state. A MemoryStore in its place would hold
 * a second copy of every retained message and persistent session for no one.
 */
export class NoStore implements Store {
  load(): StoreSnapshot {
    return { sessions: [], retained: [] }
  }
  saveSession(): void {}
  deleteSession(): void {}
  saveSubscription(): void {}
  deleteSubscription(): void {}
  addDelivery(): void {}
  updateDelivery(): void {}
  deleteDelivery(): void {}
  addInboundQos2(): void {}
  deleteInboundQos2(): void {}
  setRetained(): void {}
  commit(): void {}
  close(): void {}
  /** Nothing kept: no size to tell. */
  sizeBytes(): null {
    return null
  }
}
