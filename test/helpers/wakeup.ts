/**
 * One pending wait of a test peer (raw client, paho peer, fake broker): `wait(ms)`
 * resolves after `ms` or as soon as `wake()` is called (a packet arrived, the
 * socket closed), whichever comes first.
 */
export class Wakeup {
  private waiter: (() => void) | null = null

  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null
        resolve()
      }, ms)
      this.waiter = () => {
        clearTimeout(timer)
        this.waiter = null
        resolve()
      }
    })
  }

  wake(): void {
    this.waiter?.()
  }
}
