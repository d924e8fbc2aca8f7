import type { Logger } from '../broker/options.js'

/** One thing SIGHUP reloads: reads its files and swaps them in, or throws and changes nothing. */
export interface Reloadable {
  /** For log lines: 'certificates of mqtts://0.0.0.0:8883', 'password file /etc/petrel/passwd' ... */
  readonly name: string
  reload(): Promise<void>
}

/**
 * What `petrel broker` reloads on SIGHUP: TLS certificates, the password file and the ACL
 * file, each swapped in whole without dropping a connection. A file that cannot be read or
 * parsed is refused with one log line naming it and why, and the one in use stays.
 */
export class Reloader {
  private readonly items: Reloadable[] = []
  private running: Promise<void> = Promise.resolve()

  constructor(private readonly log: Logger) {}

  add(item: Reloadable): void {
    this.items.push(item)
  }

  /** Reloads everything, in the order added; one after the other when signals come quickly. */
  reloadAll(): Promise<void> {
    this.running = this.running.then(() => this.runAll())
    return this.running
  }

  private async runAll(): Promise<void> {
    for (const item of this.items) {
      try {
        await item.reload()
        this.log.info({ reloaded: item.name }, `reloaded ${item.name}`)
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err)
        this.log.error(
          { reloaded: item.name, err: why },
          `cannot reload ${item.name}: ${why}; keeping the one in use`,
        )
      }
    }
  }

  /** Reloads on every SIGHUP until the returned function is called. */
  onSignal(): () => void {
    const onHup = (): void => {
      this.log.info({ signal: 'SIGHUP' }, 'reloading')
      void this.reloadAll()
    }
    process.on('SIGHUP', onHup)
    return () => process.off('SIGHUP', onHup)
  }
}
