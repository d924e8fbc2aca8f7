#!/usr/bin/env node
// Makes docs/dashboard.png: a broker carrying traffic from a few hundred clients, its dashboard
// opened in headless Chromium (playwright-core), a screenshot of the page once the charts hold
// a minute or so of history.
//
//   npm run build && node scripts/screenshot-dashboard.mjs [--clients 300] [--seconds 75] [--dark] [--out docs/dashboard.png]
import { dirname, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startHttp } from '../dist/http/server.js'
import { Broker, connect } from '../dist/index.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const options = { clients: 300, seconds: 75, dark: false, out: resolve(ROOT, 'docs/dashboard.png') }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--clients') options.clients = Number(argv[++i])
  else if (a === '--seconds') options.seconds = Number(argv[++i])
  else if (a === '--dark') options.dark = true
  else if (a === '--out') options.out = resolve(argv[++i])
  else {
    process.stderr.write(
      `screenshot-dashboard: unknown option ${a}; options: --clients N --seconds S --dark --out FILE\n`,
    )
    process.exit(2)
  }
}

const SITES = ['plant-a', 'plant-b', 'warehouse', 'hq']
const KINDS = ['temperature', 'pressure', 'power', 'vibration', 'status']

// Refuses one user name, so the event log shows refused connections.
const broker = new Broker({ authenticate: (_client, username) => username !== 'intruder' })
await broker.listen({ port: 0, host: '127.0.0.1' })
const mqttPort = broker.openListeners[0].port
const http = await startHttp(broker, { port: 0 })
const url = `mqtt://127.0.0.1:${mqttPort}`
const clients = []
const timers = []

async function client(id, extra = {}) {
  const c = await connect(url, { clientId: id, keepalive: 30, reconnect: false, ...extra })
  clients.push(c)
  return c
}

// dashboards and loggers subscribe; sensors publish at their own pace
const subscribers = Math.max(4, Math.floor(options.clients / 10))
for (let i = 0; i < subscribers; i++) {
  const c = await client(`${i % 3 === 0 ? 'historian' : 'panel'}-${String(i).padStart(3, '0')}`, {
    protocolVersion: i % 2 === 0 ? 5 : 4,
  })
  await c.subscribe(i % 3 === 0 ? 'factory/#' : `factory/${SITES[i % SITES.length]}/+/temperature`, {
    qos: 1,
  })
}
let tick = 0
for (let i = subscribers; i < options.clients; i++) {
  const site = SITES[i % SITES.length]
  const kind = KINDS[i % KINDS.length]
  const id = `sensor-${site}-${String(i).padStart(4, '0')}`
  const c = await client(id, { protocolVersion: i % 4 === 0 ? 5 : 4 })
  const every = kind === 'vibration' ? 100 : kind === 'power' ? 250 : 1000
  const t = setInterval(() => {
    // the load rises and falls through the run, so the charts have a shape
    if (kind === 'vibration' && Math.sin(tick / 9) < -0.3) return
    void c
      .publish(`factory/${site}/${id}/${kind}`, JSON.stringify({ v: Math.random() * 100 }), {
        qos: kind === 'status' ? 1 : 0,
        retain: kind === 'status',
      })
      .catch(() => {})
  }, every)
  timers.push(t)
}
timers.push(setInterval(() => tick++, 1000))
// now and then someone is refused, or a session taken over
timers.push(
  setInterval(() => {
    connect(url, {
      clientId: `intruder-${tick}`,
      username: 'intruder',
      password: 'x',
      reconnect: false,
    }).catch(() => {})
  }, 7000),
)
timers.push(
  setInterval(async () => {
    const c = await connect(url, { clientId: 'panel-001', reconnect: false }).catch(() => null)
    if (c !== null) clients.push(c)
  }, 11000),
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
    viewport: { width: 1440, height: 900 },
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
  for (const t of timers) clearInterval(t)
  await Promise.allSettled(clients.map((c) => c.end()))
  await http.close()
  await broker.close()
}
