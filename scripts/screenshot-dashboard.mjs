#!/usr/bin/env node
// Makes docs/dashboard.png: a broker (SQLite store) carrying traffic from a few hundred clients,
// its dashboard opened in headless Chromium (playwright-core), a screenshot of the page once the
// charts hold a minute or so of history.
//
//   npm run build && node scripts/screenshot-dashboard.mjs [--clients 300] [--seconds 75] [--width 1440] [--dark] [--out docs/dashboard.png]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startHttp } from '../dist/http/server.js'
import { Broker, connect, SqliteStore } from '../dist/index.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const options = {
  clients: 300,
  seconds: 75,
  width: 1440,
  dark: false,
  out: resolve(ROOT, 'docs/dashboard.png'),
}
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--clients') options.clients = Number(argv[++i])
  else if (a === '--seconds') options.seconds = Number(argv[++i])
  else if (a === '--width') options.width = Number(argv[++i])
  else if (a === '--dark') options.dark = true
  else if (a === '--out') options.out = resolve(argv[++i])
  else {
    process.stderr.write(
      `screenshot-dashboard: unknown option ${a}; options: --clients N --seconds S --width PX --dark --out FILE\n`,
    )
    process.exit(2)
  }
}

const SITES = ['plant-a', 'plant-b', 'warehouse', 'hq']
const KINDS = ['temperature', 'pressure', 'power', 'vibration', 'status']
/** ms between a sensor's readings, by kind. */
const EVERY = { temperature: 2000, pressure: 2000, power: 1000, vibration: 250, status: 5000 }

const dataDir = mkdtempSync(join(tmpdir(), 'petrel-shot-'))
const store = await SqliteStore.open({ dataDir })
// refuses one user name, so the event log shows refused connections
const broker = new Broker({ store, authenticate: (_client, username) => username !== 'intruder' })
await broker.listen({ port: 0, host: '127.0.0.1' })
const http = await startHttp(broker, { port: 0 })
const url = `mqtt://127.0.0.1:${broker.openListeners[0].port}`
const clients = []
const timers = []
const started = Date.now()

async function client(id, extra = {}) {
  const c = await connect(url, { clientId: id, keepalive: 30, reconnect: false, ...extra })
  c.on('message', () => {}) // read what arrives: an unread client stops acknowledging
  clients.push(c)
  return c
}

// a few historians take everything, the panels their site's temperatures (persistent sessions)
const subscribers = Math.max(4, Math.floor(options.clients / 25))
const panel = (i) => `panel-${String(i).padStart(3, '0')}`
for (let i = 0; i < subscribers; i++) {
  const historian = i < 3
  const c = await client(historian ? `historian-${i + 1}` : panel(i), {
    protocolVersion: i % 2 === 0 ? 5 : 4,
    clean: historian,
    ...(i % 2 === 0 && !historian ? { sessionExpiryInterval: 3600 } : {}),
  })
  await c.subscribe(historian ? 'factory/#' : `factory/${SITES[i % SITES.length]}/+/temperature`, {
    qos: historian ? 0 : 1,
  })
}

// two workers share the power readings between them
for (const id of ['worker-1', 'worker-2']) {
  const c = await client(id, { protocolVersion: 5 })
  await c.subscribe('$share/billing/factory/+/+/power', { qos: 1 })
}

const sensorId = (i) => `sensor-${SITES[i % SITES.length]}-${String(i).padStart(4, '0')}`

// the sensors arrive over the first 20 seconds; each publishes at its kind's pace, vibration
// rising and falling, so the charts have a shape
async function sensor(i) {
  const site = SITES[i % SITES.length]
  const kind = KINDS[i % KINDS.length]
  const id = sensorId(i)
  const c = await client(id, {
    protocolVersion: i % 4 === 0 ? 5 : 4,
    ...(i % 3 === 0 ? { username: site } : {}),
  })
  const t = setInterval(() => {
    const wave = Math.sin((Date.now() - started) / 9000)
    if (kind === 'vibration' && Math.random() > 0.55 + 0.45 * wave) return
    c.publish(`factory/${site}/${id}/${kind}`, JSON.stringify({ v: Math.random() * 100 }), {
      qos: kind === 'status' || kind === 'power' ? 1 : 0,
      retain: kind === 'status',
    }).catch(() => {})
  }, EVERY[kind])
  timers.push(t)
}
const sensors = options.clients - subscribers - 2
const batch = Math.max(1, Math.ceil(sensors / 20))
for (let i = 0; i < sensors; i += batch) {
  const n = Math.min(batch, sensors - i)
  await Promise.all(Array.from({ length: n }, (_, k) => sensor(subscribers + i + k)))
  await sleep(1000)
}

// now and then someone is refused, a session taken over, a client kicked by an operator
let intruders = 0
timers.push(
  setInterval(() => {
    const id = `intruder-${++intruders}`
    connect(url, { clientId: id, username: 'intruder', password: 'x', reconnect: false }).catch(() => {})
  }, 9000),
)
timers.push(setInterval(() => client(panel(subscribers - 1), { clean: false }).catch(() => {}), 17000))
timers.push(
  setTimeout(() => {
    const victim = encodeURIComponent(sensorId(subscribers + 7))
    fetch(`${http.url}/api/v1/clients/${victim}/kick`, { method: 'POST' }).catch(() => {})
  }, 12000),
)

process.stdout.write(
  `${options.clients} clients on ${url}; dashboard ${http.url}; waiting ${options.seconds} s\n`,
)
await sleep(options.seconds * 1000)

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox'],
})
try {
  const page = await browser.newPage({
    viewport: { width: options.width, height: 900 },
    deviceScaleFactor: 1,
    colorScheme: options.dark ? 'dark' : 'light',
  })
  await page.goto(http.url)
  await page.waitForFunction(() => window.petrelDashboard?.data.time.length > 10)
  await page.waitForSelector('#client-table tbody tr', { timeout: 15000 }).catch(() => {
    process.stderr.write(
      'screenshot-dashboard: the clients table stayed empty (is GET /api/v1/clients served?)\n',
    )
  })
  await sleep(6000) // the tables' first refresh and a few live points
  await page.screenshot({ path: options.out, fullPage: true })
  process.stdout.write(`wrote ${options.out}\n`)
} finally {
  await browser.close()
  for (const t of timers) clearTimeout(t)
  await Promise.allSettled(clients.map((c) => c.end()))
  await http.close()
  await broker.close()
  rmSync(dataDir, { recursive: true, force: true })
}
