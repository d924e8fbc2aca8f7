import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Browser, chromium, type Page } from 'playwright-core'
import { Broker } from '../../src/broker/broker.js'
import { type Client, connect } from '../../src/client/client.js'
import { type HttpEndpoint, startHttp } from '../../src/http/server.js'
import { inCI } from '../helpers/mosquitto.js'
import { type NatsCluster, natsSkip, startNats } from '../helpers/nats.js'
import { LOOPBACK } from '../helpers/net.js'

/**
 * The dashboard as an operator sees it, in Debian's Chromium (headless, driven by
 * playwright-core): a broker carrying traffic, the page loaded from its HTTP endpoint.
 */
const CHROMIUM = '/usr/bin/chromium'

/** Skipped with the reason shown when Chromium is missing; in CI (CI=true) that fails instead. */
function chromiumSkip(): string | false {
  if (existsSync(CHROMIUM)) return false
  const reason = `${CHROMIUM} not found (Debian: apt-get install chromium)`
  if (inCI()) throw new Error(`${reason}; CI=true, so the dashboard test must not be skipped`)
  return reason
}

/**
 * Waits for `check` (page code) to be true, or fails saying what was awaited. Polled with
 * page.evaluate: waitForFunction compiles its predicate in the page, which the dashboard's
 * Content-Security-Policy (no 'unsafe-eval') forbids.
 */
async function until(page: Page, what: string, check: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  while ((await page.evaluate(check)) !== true) {
    if (Date.now() > deadline) assert.fail(`the page never showed ${what} within ${timeout} ms`)
    await sleep(100)
  }
}

// page code is given as strings: this test is compiled without the DOM's types

/** The client ids in the table's rows, in order. */
async function rows(page: Page): Promise<string[]> {
  return (await page.evaluate(
    "[...document.querySelectorAll('#client-table tbody tr')].map((tr) => tr.dataset.clientId)",
  )) as string[]
}

/** Every chart's canvas of the main grid (not the cluster section's) as a PNG data URL. */
const CANVASES = "[...document.querySelectorAll('section.charts .chart canvas')].map((c) => c.toDataURL())"

/** How many pixels of the connections chart are the light theme's accent colour (#0f6fde): its line. */
const ACCENT_PIXELS = `(() => {
  const c = document.querySelector('#c-connections canvas')
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
  let n = 0
  for (let i = 0; i < d.length; i += 4)
    if (Math.abs(d[i] - 0x0f) < 30 && Math.abs(d[i + 1] - 0x6f) < 30 && Math.abs(d[i + 2] - 0xde) < 30) n++
  return n
})()`

describe('the dashboard in Chromium', { skip: chromiumSkip() }, () => {
  let broker: Broker
  let http: HttpEndpoint
  let browser: Browser
  let page: Page
  const clients = new Map<string, Client>()
  let traffic: NodeJS.Timeout
  /** What the page's Content-Security-Policy refused: nothing the dashboard needs. */
  const refusedByCsp: string[] = []

  before(async () => {
    broker = new Broker()
    const l = await broker.listen({ port: 0, host: LOOPBACK })
    http = await startHttp(broker, { port: 0 })
    const url = `mqtt://${LOOPBACK}:${l.port}`
    for (const id of ['sensor-1', 'sensor-2', 'sensor-3', 'panel-a', 'panel-b']) {
      clients.set(
        id,
        await connect(url, { clientId: id, reconnect: false, protocolVersion: id === 'panel-b' ? 5 : 4 }),
      )
    }
    await clients.get('panel-a')!.subscribe('plant/#', { qos: 1 })
    await clients.get('panel-b')!.subscribe('plant/#', { qos: 0 })
    let n = 0
    traffic = setInterval(() => {
      for (const id of ['sensor-1', 'sensor-2', 'sensor-3']) {
        clients
          .get(id)!
          .publish(`plant/${id}/temperature`, String(n++), { qos: n % 2 === 0 ? 0 : 1 })
          .catch(() => {})
      }
    }, 50)
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) refusedByCsp.push(m.text())
    })
    page.on('pageerror', (err) => assert.fail(`the page threw: ${err.message}`))
    await page.goto(http.url)
  })

  after(async () => {
    clearInterval(traffic)
    await browser?.close()
    await Promise.allSettled([...clients.values()].map((c) => c.end()))
    await http?.close()
    await broker?.close()
  })

  test('shows the broker figures and draws the charts, which move as the seconds pass', async () => {
    await until(page, 'five connections', "document.getElementById('k-connections').textContent === '5'")
    await until(page, 'the live indicator', "document.getElementById('link').dataset.state === 'live'")
    await until(page, 'a chart with two points', 'window.petrelDashboard.data.time.length >= 2')
    // the connections chart draws its line: pixels of the series colour on the canvas
    const drawn = Number(await page.evaluate(ACCENT_PIXELS))
    assert.ok(drawn > 100, `the connections line has ${drawn} pixels`)
    const points = await page.evaluate('window.petrelDashboard.data.time.length')
    const pixels = (await page.evaluate(CANVASES)) as string[]
    await until(page, 'two more points', `window.petrelDashboard.data.time.length >= ${Number(points) + 2}`)
    const later = (await page.evaluate(CANVASES)) as string[]
    assert.equal(later.length, 6)
    assert.ok(
      later.some((p, i) => p !== pixels[i]),
      'some chart was redrawn differently as time passed',
    )
    // every plot holds the same points as the page's data
    const lengths = (await page.evaluate(
      'window.petrelDashboard.plots.map((p) => p.plot.data[0].length)',
    )) as number[]
    assert.equal(new Set(lengths).size, 1, `every chart has the same points: ${lengths}`)
    assert.ok(lengths[0]! >= Number(points) + 2)
    assert.deepEqual(refusedByCsp, [])
  })

  test('a single node shows no cluster section', async () => {
    await until(page, 'the figures', "document.getElementById('k-connections').textContent !== '–'")
    assert.equal(await page.isVisible('#cluster'), false)
  })

  test('lists the connected clients, filtered on the server as the operator types', async () => {
    await until(page, 'five clients', "document.querySelectorAll('#client-table tbody tr').length === 5")
    assert.deepEqual(await rows(page), ['panel-a', 'panel-b', 'sensor-1', 'sensor-2', 'sensor-3'])
    await page.fill('#client-search', 'sensor')
    await until(page, 'only the sensors', "document.querySelectorAll('#client-table tbody tr').length === 3")
    assert.deepEqual(await rows(page), ['sensor-1', 'sensor-2', 'sensor-3'])
    assert.equal(await page.textContent('#clients-total'), '3')
    // sorting by a column asks the server again
    await page.click('#client-table th[data-sort="clientId"]')
    await until(
      page,
      'the sensors in descending order',
      "document.querySelector('#client-table tbody tr').dataset.clientId === 'sensor-3'",
    )
    await page.fill('#client-search', '')
    await until(page, 'all five again', "document.querySelectorAll('#client-table tbody tr').length === 5")
  })

  test('kicks a client: it is disconnected and gone from the table', async () => {
    const kicked = clients.get('panel-b')!
    const closed = new Promise<void>((resolve) => kicked.once('close', () => resolve()))
    const button = page.locator('#client-table tbody tr[data-client-id="panel-b"] button')
    await button.click()
    assert.equal(await button.textContent(), 'Confirm')
    await button.click()
    await until(
      page,
      'panel-b gone',
      '!document.querySelector(\'#client-table tbody tr[data-client-id="panel-b"]\')',
    )
    await closed
    assert.equal(broker.connectedCount, 4)
    assert.deepEqual((await rows(page)).sort(), ['panel-a', 'sensor-1', 'sensor-2', 'sensor-3'])
  })
})

describe('the dashboard in Chromium, behind a bearer token', { skip: chromiumSkip() }, () => {
  const TOKEN = 'op3rator-s3cret'
  let broker: Broker
  let http: HttpEndpoint
  let browser: Browser

  before(async () => {
    broker = new Broker()
    await broker.listen({ port: 0, host: LOOPBACK })
    http = await startHttp(broker, { port: 0, token: TOKEN })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
  })

  after(async () => {
    await browser?.close()
    await http?.close()
    await broker?.close()
  })

  test('asks for the token on a 401, asks again for a wrong one, and keeps the right one for the tab', async () => {
    const page = await browser.newPage()
    const refusedByCsp: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) refusedByCsp.push(m.text())
    })
    await page.goto(http.url)
    await until(page, 'the token dialog', "document.getElementById('token-dialog').open")
    assert.equal(await page.isVisible('#token-error'), false)
    await page.fill('#token-input', 'wrong')
    await page.press('#token-input', 'Enter')
    await until(
      page,
      'the dialog again, saying the token was refused',
      "document.getElementById('token-dialog').open && !document.getElementById('token-error').hidden",
    )
    await page.fill('#token-input', TOKEN)
    await page.press('#token-input', 'Enter')
    // the stream takes the token as ?access_token=: live, and the figures move
    await until(page, 'the live indicator', "document.getElementById('link').dataset.state === 'live'")
    await until(page, 'two points from the stream', 'window.petrelDashboard.data.time.length >= 2')
    assert.equal(await page.evaluate("sessionStorage.getItem('petrel.token')"), TOKEN)
    assert.equal(await page.evaluate("document.getElementById('token-dialog').open"), false)
    // a reload of the tab does not ask again
    await page.reload()
    await until(
      page,
      'the live indicator after a reload',
      "document.getElementById('link').dataset.state === 'live'",
    )
    assert.equal(await page.evaluate("document.getElementById('token-dialog').open"), false)
    assert.deepEqual(refusedByCsp, [])
    await page.close()
  })
})

describe('the dashboard in Chromium, with client-chosen strings that look like HTML', {
  skip: chromiumSkip(),
}, () => {
  let broker: Broker
  let http: HttpEndpoint
  let browser: Browser
  const clients: Client[] = []

  before(async () => {
    broker = new Broker()
    const l = await broker.listen({ port: 0, host: LOOPBACK })
    http = await startHttp(broker, { port: 0 })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
    const url = `mqtt://${LOOPBACK}:${l.port}`
    const evil = '<img src=x id=pwn-client>'
    const first = await connect(url, { clientId: evil, reconnect: false })
    first.on('error', () => {})
    // a second connection with the same id takes over: a notable event naming the client
    clients.push(await connect(url, { clientId: evil, reconnect: false }))
    const pub = await connect(url, { clientId: 'pub', reconnect: false })
    clients.push(pub)
    // enough that the topic sampler (1 message in 64) sees it
    for (let i = 0; i < 640; i++) await pub.publish('<img src=x id=pwn-topic>/t', 'x', { qos: 0 })
  })

  after(async () => {
    await browser?.close()
    await Promise.allSettled(clients.map((c) => c.end()))
    await http?.close()
    await broker?.close()
  })

  test('shows client ids, topics and events as text, never as markup', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('pageerror', (err) => assert.fail(`the page threw: ${err.message}`))
    await page.goto(http.url)
    const text = "document.body.textContent.includes('<img src=x id=pwn-"
    await until(
      page,
      'the client id as text',
      `document.querySelector('#client-table tbody').textContent.includes('<img src=x id=pwn-client>')`,
    )
    await until(page, 'the topic as text', `${text}topic>/t')`)
    await until(
      page,
      'the takeover event',
      `[...document.querySelectorAll('li')].some((li) => li.textContent.includes('<img src=x id=pwn-client>'))`,
    )
    assert.equal(
      await page.evaluate("document.querySelectorAll('[id^=pwn]').length"),
      0,
      'no element was made of them',
    )
    await page.close()
  })
})

describe('the dashboard in Chromium, on a cluster node', { skip: chromiumSkip() || natsSkip() }, () => {
  let nats: NatsCluster
  const nodes: Broker[] = []
  const clients: Client[] = []
  let http: HttpEndpoint
  let browser: Browser
  let traffic: NodeJS.Timeout

  before(async () => {
    nats = await startNats({ servers: 1 })
    const urls: string[] = []
    for (const node of ['edge-a', 'edge-b']) {
      const b = new Broker({ sysInterval: 0, cluster: { servers: nats.urls, node, replicas: 1 } })
      const l = await b.listen({ port: 0, host: LOOPBACK })
      nodes.push(b)
      urls.push(`mqtt://${LOOPBACK}:${l.port}`)
    }
    http = await startHttp(nodes[0]!, { port: 0 })
    const sub = await connect(urls[1]!, { clientId: 'far-sub', reconnect: false })
    clients.push(sub)
    await sub.subscribe('plant/#', { qos: 1 })
    const pub = await connect(urls[0]!, { clientId: 'near-pub', reconnect: false })
    clients.push(pub)
    let n = 0
    traffic = setInterval(() => {
      pub
        .publish(`plant/line-${n % 3}/temperature`, String(n++), { qos: n % 2 === 0 ? 0 : 1 })
        .catch(() => {})
    }, 20)
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })
  })

  after(async () => {
    clearInterval(traffic)
    await browser?.close()
    await Promise.allSettled(clients.map((c) => c.end()))
    await http?.close()
    await Promise.allSettled(nodes.map((b) => b.close()))
    await nats?.stop()
  })

  test('shows the cluster: this node, NATS, the nodes with their connections, cross-node rates and the JetStream lag', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('pageerror', (err) => assert.fail(`the page threw: ${err.message}`))
    await page.goto(http.url)
    await until(page, 'the cluster section', "!document.getElementById('cluster').hidden")
    assert.equal(await page.textContent('#cluster-node'), 'edge-a')
    assert.equal(await page.textContent('#cluster-state-text'), 'connected')
    assert.match((await page.textContent('#cluster-server')) ?? '', /^127\.0\.0\.1:\d+$/)
    // the other node shows once its heartbeat (every 2 s) is heard, with its one connection
    await until(
      page,
      'both nodes, edge-b with its subscriber',
      `(() => {
        const rows = [...document.querySelectorAll('#cluster-nodes tbody tr')]
        return rows.map((r) => r.dataset.node).join() === 'edge-a,edge-b' &&
          rows[1].children[1].textContent === '1'
      })()`,
    )
    assert.equal(await page.textContent('#cluster-nodes tbody tr:first-child td:nth-child(2)'), '1')
    assert.equal(await page.textContent('#cluster-count'), '2 nodes')
    await until(
      page,
      'a forwarded rate',
      "/^[1-9]/.test(document.getElementById('cl-forwarded').textContent)",
    )
    await until(page, 'the JetStream lag read', "document.getElementById('cl-lag').textContent !== '–'")
    // the cluster charts are drawn at the section's width, with the points of the others
    await until(page, 'two points', 'window.petrelDashboard.data.time.length >= 2')
    const widths = (await page.evaluate(
      "[...document.querySelectorAll('#cluster canvas')].map((c) => c.getBoundingClientRect().width)",
    )) as number[]
    assert.equal(widths.length, 2)
    assert.ok(
      widths.every((w) => w > 250),
      `the cluster charts took the section's width: ${widths}`,
    )
    const forwarded = (await page.evaluate('window.petrelDashboard.data.series.clusterForwarded')) as (
      | number
      | null
    )[]
    assert.ok(
      forwarded.some((v) => v !== null && v > 0),
      `forwarded per second: ${forwarded}`,
    )
    await page.close()
  })
})
