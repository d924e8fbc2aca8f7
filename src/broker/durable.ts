import type { QoS } from '../protocol/constants.js'
import type { Store, StoredDelivery, StoredMessage, StoreSnapshot } from '../store/store.js'

/**
 * The broker's handle on its Store: every write also asks for the end-of-turn
 * flush, where the broker commits once and only then writes to sockets, so a
 * PUBACK or PUBREC never leaves before the message it acknowledges is durable
 * (group commit).
 */
export class StoreWriter implements Store {
  private readonly store: Store
  private readonly schedule: () => void

  constructor(store: Store, schedule: () => void) {
    this.store = store
    this.schedule = schedule
  }

  load(): StoreSnapshot | Promise<StoreSnapshot> {
    return this.store.load()
  }
  saveSession(clientId: string, disconnectedAt: number): void {
    this.store.saveSession(clientId, disconnectedAt)
    this.schedule()
  }
  deleteSession(clientId: string): void {
    this.store.deleteSession(clientId)
    this.schedule()
  }
  saveSubscription(clientId: string, filter: string, qos: QoS): void {
    this.store.saveSubscription(clientId, filter, qos)
    this.schedule()
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.store.deleteSubscription(clientId, filter)
    this.schedule()
  }
  addDelivery(clientId: string, d: StoredDelivery): void {
    this.store.addDelivery(clientId, d)
    this.schedule()
  }
  updateDelivery(clientId: string, seq: number, packetId: number, released: boolean): void {
    this.store.updateDelivery(clientId, seq, packetId, released)
    this.schedule()
  }
  deleteDelivery(clientId: string, seq: number): void {
    this.store.deleteDelivery(clientId, seq)
    this.schedule()
  }
  addInboundQos2(clientId: string, packetId: number): void {
    this.store.addInboundQos2(clientId, packetId)
    this.schedule()
  }
  deleteInboundQos2(clientId: string, packetId: number): void {
    this.store.deleteInboundQos2(clientId, packetId)
    this.schedule()
  }
  setRetained(msg: StoredMessage): void {
    this.store.setRetained(msg)
    this.schedule()
  }
  commit(): void | Promise<void> {
    return this.store.commit()
  }
  close(): void {
    this.store.close()
  }
}
