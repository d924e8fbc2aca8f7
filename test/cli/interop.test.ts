/**
 * petrel pub/sub and the Mosquitto tools talk to each other, through Petrel's
 * broker and through Mosquitto: mosquitto_sub receives what `petrel pub`
 * publishes and `petrel sub` receives what mosquitto_pub publishes, at QoS
 * 0/1/2, retained, and in -l line mode.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Broker } from '../../src/broker/broker.js'
import {
  type MosquittoBroker,
  mosquittoClientsSkip,
  mosquittoPub,
  mosquittoSkip,
  mosquittoSub,
  type SubResult,
  startMosquitto,
  startMosquittoSub,
} from '../helpers/mosquitto.js'
import { LOOPBACK } from '../helpers/net.js'
import { type Background, petrel, spawnPetrel } from './petrel-cli.js'

/** A broker under test: its port, and a way to know a subscription is in place. */
interface Target {
  port: number
  subscribed(filter: string, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

async function petrelTarget(): Promise<Target> {
  const broker = new Broker({ sysInterval: 0 })
  const { port } = await broker.listen({ port: 0, host: LOOPBACK })
  return {
    port,
    subscribed: (filter, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const on = (subs: { topic: string }[]): void => {
          if (!subs.some((s) => s.topic === filter)) return
          clearTimeout(timer)
          broker.off('subscribed', on)
          resolve()
        }
        const timer = setTimeout(() => {
          broker.off('subscribed', on)
          reject(new Error(`no SUBSCRIBE for ${filter}`))
        }, timeoutMs)
        broker.on('subscribed', on)
      }),
    close: () => broker.close(),
  }
}

async function mosquittoTarget(): Promise<Target> {
  // 'log_type subscribe' makes Mosquitto log "<time>: <client id> <qos> <filter>" per subscription.
  const m: MosquittoBroker = await startMosquitto({ config: ['log_type subscribe'] })
  return {
    port: m.port,
    async subscribed(filter, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs
      const line = new RegExp(`: \\S+ \\d ${filter.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm')
      while (!line.test(m.log())) {
        if (Date.now() > deadline)
          throw new Error(`Mosquitto logged no subscription to ${filter}:\n${m.log()}`)
        await sleep(20)
      }
    },
    close: () => m.stop(),
  }
}

/** mosquitto_sub -F: QoS, retain flag, topic, payload. */
const FORMAT = ['-F', '%q %r %t %p']

const targets: [string, () => Promise<Target>, string | false][] = [
  ['Petrel', petrelTarget, false],
  ['Mosquitto', mosquittoTarget, mosquittoSkip()],
]

for (const [name, start, skipBroker] of targets) {
  describe(`petrel pub/sub <-> mosquitto_pub/sub through ${name}`, {
    skip: skipBroker || mosquittoClientsSkip(),
  }, () => {
    let target: Target
    before(async () => {
      target = await start()
    })
    after(async () => {
      await target?.close()
    })

    let n = 0
    const topic = (what: string): string => `interop/${process.pid}/${name}/${++n}/${what}`
    const hp = (): string[] => ['-h', LOOPBACK, '-p', String(target.port)]

    /** mosquitto_sub running until it has `count` messages; resolves once the broker has its subscription. */
    async function mosquittoSubscriber(
      t: string,
      count: number,
      qos: 0 | 1 | 2,
    ): Promise<{ done: Promise<SubResult> }> {
      const options = { topics: [t], count, qos, waitSeconds: 10, args: FORMAT }
      return startMosquittoSub(target.port, options, () => target.subscribed(t))
    }

    async function petrelSubscriber(t: string, args: string[]): Promise<Background> {
      const ready = target.subscribed(t)
      const s = spawnPetrel(['sub', ...hp(), '-t', t, '-W', '10', ...args])
      await Promise.race([
        ready,
        s.exited.then(() => {
          throw new Error(`petrel sub exited early: ${s.stderr()}`)
        }),
      ])
      return s
    }

    async function petrelPub(args: string[], input?: string): Promise<void> {
      const r = await petrel(['pub', ...hp(), ...args], input === undefined ? {} : { input })
      assert.equal(r.code, 0, r.stderr)
    }

    for (const qos of [0, 1, 2] as const) {
      test(`mosquitto_sub receives what petrel pub publishes at QoS ${qos}`, async () => {
        const t = topic(`to-mosquitto-q${qos}`)
        const { done } = await mosquittoSubscriber(t, 1, qos)
        await petrelPub(['-t', t, '-q', String(qos), '-m', `petrel says ${qos}`])
        assert.deepEqual((await done).lines, [`${qos} 0 ${t} petrel says ${qos}`])
      })

      test(`petrel sub receives what mosquitto_pub publishes at QoS ${qos}`, async () => {
        const t = topic(`to-petrel-q${qos}`)
        const s = await petrelSubscriber(t, ['-q', String(qos), '-C', '1', '-v'])
        await mosquittoPub(target.port, ['-t', t, '-q', String(qos), '-m', `mosquitto says ${qos}`])
        assert.deepEqual(await s.exited, { code: 0, signal: null }, s.stderr())
        assert.equal(s.stdout(), `${t} mosquitto says ${qos}\n`)
      })
    }

    test('a message retained by petrel pub reaches a later mosquitto_sub with the retain flag', async () => {
      const t = topic('retained-by-petrel')
      await petrelPub(['-t', t, '-q', '1', '-r', '-m', 'kept by petrel'])
      const r = await mosquittoSub(target.port, {
        topics: [t],
        count: 1,
        qos: 1,
        waitSeconds: 10,
        args: FORMAT,
      })
      assert.deepEqual(r.lines, [`1 1 ${t} kept by petrel`])
    })

    test('a message retained by mosquitto_pub reaches a later petrel sub, which -R skips', async () => {
      const t = topic('retained-by-mosquitto')
      await mosquittoPub(target.port, ['-t', t, '-q', '1', '-r', '-m', 'kept by mosquitto'])
      const got = await petrel(['sub', ...hp(), '-t', t, '-q', '1', '-C', '1', '-v', '-W', '10'])
      assert.equal(got.code, 0, got.stderr)
      assert.equal(got.stdout, `${t} kept by mosquitto\n`)
      const stale = await petrel(['sub', ...hp(), '-t', t, '-R', '-W', '1'])
      assert.equal(stale.code, 27)
      assert.equal(stale.stdout, '')
    })

    test('petrel pub -l sends each line of stdin as a message to mosquitto_sub', async () => {
      const t = topic('lines-from-petrel')
      const { done } = await mosquittoSubscriber(t, 3, 1)
      await petrelPub(['-t', t, '-q', '1', '-l'], 'first\nsecond\nthird\n')
      assert.deepEqual((await done).lines, [`1 0 ${t} first`, `1 0 ${t} second`, `1 0 ${t} third`])
    })

    test('petrel sub receives each line that mosquitto_pub -l sends', async () => {
      const t = topic('lines-from-mosquitto')
      const s = await petrelSubscriber(t, ['-q', '1', '-C', '3'])
      await mosquittoPub(target.port, ['-t', t, '-q', '1', '-l'], { input: 'one\ntwo\nthree\n' })
      assert.equal((await s.exited).code, 0, s.stderr())
      assert.equal(s.stdout(), 'one\ntwo\nthree\n')
    })
  })
}
