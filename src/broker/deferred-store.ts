import { NoStore } from '../store/memory/no-store.js'
import type { Store, StoredDelivery, StoredSubscription, StoreSnapshot } from '../store/store.js'

/**
 * The store of a broker that joins a cluster: nothing until it joined (the broker does not
 * listen before), then the cluster's (ClusterBridge.store), to which every call goes.
 */
export class DeferredStore implements Store {
  inner: Store = new NoStore()

  load(): StoreSnapshot | Promise<StoreSnapshot> {
    return this.inner.load()
  }
  saveSession(clientId: string, disconnectedAt: number, expiryInterval?: number): void {
    this.inner.saveSession(clientId, disconnectedAt, expiryInterval)
  }
  deleteSession(clientId: string): void {
    this.inner.deleteSession(clientId)
  }
  saveSubscription(clientId: string, filter: string, sub: StoredSubscription): void {
    this.inner.saveSubscription(clientId, filter, sub)
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.inner.deleteSubscription(clientId, filter)
  }
  addDelivery(clientId: string, d: StoredDelivery): void {
    this.inner.addDelivery(clientId, d)
  }
  updateDelivery(clientId: string, seq: number, packetId: number, released: boolean): void {
    this.inner.updateDelivery(clientId, seq, packetId, released)
  }
  deleteDelivery(clientId: string, seq: number): void {
    this.inner.deleteDelivery(clientId, seq)
  }
  addInboundQos2(clientId: string, packetId: number): void {
    this.inner.addInboundQos2(clientId, packetId)
  }
  deleteInboundQos2(clientId: string, packetId: number): void {
    this.inner.deleteInboundQos2(clientId, packetId)
  }
  setRetained(msg: Parameters<Store['setRetained']>[0]): void {
    this.inner.setRetained(msg)
  }
  commit(): void | Promise<void> {
    return this.inner.commit()
  }
  close(): void {
    this.inner.close()
  }
}
