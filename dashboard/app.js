// Petrel dashboard: plain browser JavaScript modules, no build step. Reads the broker's HTTP API:
// /api/v1/history once, then /api/v1/stream (Server-Sent Events, one per page); the tables are
// paged, sorted and filtered by the server (/api/v1/clients, /api/v1/topics) and refreshed
// every few seconds while the page is visible. format.js, api.js and charts.js hold the parts.
import { api, currentToken } from './api.js'
import { addPoint, buildCharts, CHARTS, data, loadHistory, plots } from './charts.js'
import { $, bytes, clock, count, duration, el, nf, PROTOCOLS, seconds, since } from './format.js'

const TABLE_REFRESH_MS = 5000
const PAGE_SIZE = 50
const EVENTS_SHOWN = 200

// --- the figures --------------------------------------------------------------

function set(id, main, sub) {
  $(id).textContent = main
  if (sub !== undefined) $(`${id}-sub`).textContent = sub
}

function showOverview(o) {
  $('version').textContent = `v${o.version}`
  $('uptime').textContent = duration(o.uptimeSeconds)
  set(
    'k-connections',
    count(o.connections.current),
    `max ${count(o.connections.maximum)} · ${count(o.connections.refused)} refused`,
  )
  set(
    'k-in',
    `${count(o.rates.messagesIn)}/s`,
    `${bytes(o.rates.bytesIn)}/s · ${count(o.totals.messagesIn)} total`,
  )
  set(
    'k-out',
    `${count(o.rates.messagesOut)}/s`,
    `${bytes(o.rates.bytesOut)}/s · ${count(o.totals.messagesOut)} total`,
  )
  set('k-dropped', `${count(o.rates.dropped)}/s`, `${count(o.totals.dropped)} total`)
  $('k-dropped').parentElement.classList.toggle('alert', o.rates.dropped > 0)
  set(
    'k-sessions',
    count(o.sessions.current),
    `${count(o.sessions.persistent)} persistent · ${count(o.sessions.expired)} expired`,
  )
  set(
    'k-subs',
    count(o.subscriptions),
    `${count(o.sharedSubscriptions)} shared · ${count(o.retained)} retained`,
  )
  set('k-held', `${count(o.inflight)} · ${count(o.queued)}`, 'QoS 1/2 messages held')
  set(
    'k-loop',
    seconds(o.eventLoop.delayP99Seconds),
    `delay p99 · ${(o.eventLoop.utilization * 100).toFixed(0)}% busy`,
  )
  set(
    'k-store',
    seconds(o.store.commitP99Seconds),
    o.store.sizeBytes == null ? 'size –' : `size ${bytes(o.store.sizeBytes)}`,
  )
  set('k-heap', bytes(o.memory.heapUsedBytes), `heap · RSS ${bytes(o.memory.rssBytes)}`)
  showCluster(o)
}

// --- the cluster (cluster mode only) ------------------------------------------------

/** A node not heard from for this long is shown as stale (heartbeats come every 2 s). */
const NODE_STALE_MS = 5000

function showCluster(o) {
  const c = o.cluster
  $('cluster').hidden = c == null
  if (c == null) return
  $('cluster-count').textContent = `${nf.format(c.nodes.length + 1)} nodes`
  $('cluster-node').textContent = c.node
  $('cluster-server').textContent = c.server ?? '–'
  $('cluster-state').classList.toggle('down', !c.connected)
  $('cluster-state').querySelector('.state').classList.toggle('on', c.connected)
  $('cluster-state-text').textContent = c.connected ? 'connected' : 'disconnected'
  set('cl-forwarded', `${count(c.rates.forwarded)}/s`, `${count(c.forwarded)} total`)
  set('cl-received', `${count(c.rates.received)}/s`, `${count(c.received)} total`)
  const s = c.stream
  set(
    'cl-lag',
    s == null ? '–' : count(s.messages),
    s == null ? 'not read yet' : `${bytes(s.bytes)} · ${count(s.consumers)} consumers`,
  )
  set('cl-pending', count(c.pendingAcks), 'QoS 1/2 to JetStream')
  set('cl-sessions', count(c.sessions), `${count(c.interest)} interest subscriptions`)
  const others = [...c.nodes].sort((a, b) => a.node.localeCompare(b.node))
  const rows = [
    nodeRow(c.node, o.connections.current, 'now', true, true),
    ...others.map((n) =>
      nodeRow(
        n.node,
        n.connections,
        `${duration(Math.max(0, (o.time - n.lastSeen) / 1000))} ago`,
        o.time - n.lastSeen < NODE_STALE_MS,
        false,
      ),
    ),
  ]
  document.querySelector('#cluster-nodes tbody').replaceChildren(...rows)
}

function nodeRow(node, connections, seen, fresh, self) {
  const name = el('td', { className: 'id', title: node })
  name.append(el('span', { className: fresh ? 'state on' : 'state' }), node)
  if (self) name.append(' ', el('span', { className: 'tag' }, 'this node'))
  const tr = el('tr', null, name, cell(count(connections), 'num'), cell(seen, 'num'))
  tr.dataset.node = node
  return tr
}

// --- the live stream --------------------------------------------------------

let stream = null
/** True once the stream broke: when it is back, the history fills the gap. */
let broken = false
function setLink(state, text) {
  $('link').dataset.state = state
  $('link-text').textContent = text
}

function openStream() {
  stream?.close()
  const token = currentToken()
  const url = token ? `/api/v1/stream?access_token=${encodeURIComponent(token)}` : '/api/v1/stream'
  const es = (stream = new EventSource(url))
  es.addEventListener('open', () => {
    setLink('live', 'Live')
    if (broken) {
      broken = false
      loadHistory().catch(() => {})
    }
  })
  es.addEventListener('overview', (e) => {
    const o = JSON.parse(e.data)
    showOverview(o)
    addPoint(o)
  })
  es.addEventListener('notable', (e) => addEvent(JSON.parse(e.data), true))
  es.addEventListener('error', () => {
    broken = true
    if (es.readyState !== EventSource.CLOSED) {
      setLink('reconnecting', 'Reconnecting')
      return
    }
    // refused (401, 503): ask through api(), which asks for the token on a 401, then open again
    setLink('offline', 'Offline')
    setTimeout(() => api('/api/v1/overview').then(openStream, () => setTimeout(openStream, 3000)), 2000)
  })
}

// --- clients ------------------------------------------------------------------

const query = { search: '', connected: 'true', sort: 'clientId', order: 'asc', offset: 0 }
let clientsLoading = null

function clientsUrl() {
  const p = new URLSearchParams({
    sort: query.sort,
    order: query.order,
    offset: query.offset,
    limit: PAGE_SIZE,
  })
  if (query.search) p.set('search', query.search)
  if (query.connected) p.set('connected', query.connected)
  return `/api/v1/clients?${p}`
}

async function loadClients() {
  const url = clientsUrl()
  clientsLoading = url
  let page
  try {
    page = await api(url)
    $('clients-error').hidden = true
  } catch (err) {
    $('clients-error').textContent = `Could not list clients: ${err.message}`
    $('clients-error').hidden = false
    return
  }
  if (clientsLoading !== url) return // a newer query went out meanwhile
  if (page.items.length === 0 && page.offset > 0 && page.total > 0) {
    query.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE)
    return loadClients()
  }
  renderClients(page)
}

function cell(text, className, title) {
  return el('td', { className, title }, text)
}

function renderClients(page) {
  const rows = page.items.map((c) => {
    const id = el('td', { className: 'id', title: c.clientId })
    id.append(el('span', { className: c.connected ? 'state on' : 'state' }), c.clientId)
    const act = el('td', { className: 'act' })
    if (c.connected) act.append(kickButton(c.clientId))
    const tr = el(
      'tr',
      null,
      id,
      cell(c.username ?? '–'),
      cell(c.address ?? '–', 'mono'),
      el(
        'td',
        null,
        el('span', { className: 'tag' }, PROTOCOLS[c.protocolVersion] ?? String(c.protocolVersion)),
      ),
      cell(c.connected ? since(c.connectedSince) : 'offline', '', c.connectedSince ?? ''),
      cell(count(c.subscriptions), 'num'),
      cell(count(c.inflight), 'num'),
      cell(count(c.queued), 'num'),
      cell(count(c.messagesIn), 'num'),
      cell(count(c.messagesOut), 'num'),
      cell(bytes(c.bytesIn), 'num'),
      cell(bytes(c.bytesOut), 'num'),
      act,
    )
    tr.dataset.clientId = c.clientId
    return tr
  })
  document.querySelector('#client-table tbody').replaceChildren(...rows)
  $('clients-empty').hidden = page.items.length > 0
  $('clients-total').textContent = nf.format(page.total)
  const first = page.total === 0 ? 0 : page.offset + 1
  $('clients-range').textContent =
    `${nf.format(first)}–${nf.format(page.offset + page.items.length)} of ${nf.format(page.total)}`
  $('page-prev').disabled = page.offset === 0
  $('page-next').disabled = page.offset + page.items.length >= page.total
}

/** Kick takes two clicks: the first arms the button for a few seconds. */
function kickButton(clientId) {
  const b = el('button', {
    type: 'button',
    className: 'btn danger',
    textContent: 'Kick',
    title: `Disconnect ${clientId}`,
  })
  let armed = null
  b.addEventListener('click', async () => {
    if (armed === null) {
      b.classList.add('confirm')
      b.textContent = 'Confirm'
      armed = setTimeout(() => {
        armed = null
        b.classList.remove('confirm')
        b.textContent = 'Kick'
      }, 4000)
      return
    }
    clearTimeout(armed)
    b.disabled = true
    try {
      await api(`/api/v1/clients/${encodeURIComponent(clientId)}/kick`, { method: 'POST' })
    } catch (err) {
      if (err.status !== 404) alert(`Could not kick ${clientId}: ${err.message}`)
    }
    await loadClients()
  })
  return b
}

function setupClientControls() {
  let typing = null
  $('client-search').addEventListener('input', (e) => {
    clearTimeout(typing)
    typing = setTimeout(() => {
      query.search = e.target.value.trim()
      query.offset = 0
      loadClients()
    }, 250)
  })
  $('client-state').addEventListener('change', (e) => {
    query.connected = e.target.value
    query.offset = 0
    loadClients()
  })
  for (const th of document.querySelectorAll('#client-table th[data-sort]')) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort
      if (query.sort === key) query.order = query.order === 'asc' ? 'desc' : 'asc'
      else {
        query.sort = key
        query.order = ['clientId', 'username', 'address'].includes(key) ? 'asc' : 'desc'
      }
      query.offset = 0
      showSort()
      loadClients()
    })
  }
  $('page-prev').addEventListener('click', () => {
    query.offset = Math.max(0, query.offset - PAGE_SIZE)
    loadClients()
  })
  $('page-next').addEventListener('click', () => {
    query.offset += PAGE_SIZE
    loadClients()
  })
  showSort()
}

function showSort() {
  for (const th of document.querySelectorAll('#client-table th[data-sort]')) {
    if (th.dataset.sort === query.sort)
      th.setAttribute('aria-sort', query.order === 'asc' ? 'ascending' : 'descending')
    else th.removeAttribute('aria-sort')
  }
}

// --- busiest topics and notable events ------------------------------------------

async function loadTopics() {
  const t = await api('/api/v1/topics?limit=10')
  const top = t.items[0]?.messagesPerSecond ?? 0
  const rows = t.items.map((x) => {
    const bar = el('div', { className: 'bar' })
    bar.style.width = `${top > 0 ? Math.max(1, (x.messagesPerSecond / top) * 100) : 0}%`
    return el(
      'tr',
      null,
      cell(x.topic, 'topic', x.topic),
      cell(count(x.messagesPerSecond), 'num'),
      el('td', null, bar),
    )
  })
  document.querySelector('#topics tbody').replaceChildren(...rows)
  $('topics-empty').hidden = rows.length > 0
  $('topics-window').textContent = `sampled over the last ${Math.round(t.windowSeconds)} s`
}

function addEvent(e, fresh) {
  const list = $('event-list')
  const detail = el('span', { className: 'detail' })
  if (e.clientId) detail.append(el('span', { className: 'who' }, e.clientId))
  detail.append(e.detail)
  const li = el(
    'li',
    { className: fresh ? 'fresh' : '' },
    el(
      'time',
      { dateTime: new Date(e.time).toISOString(), title: new Date(e.time).toLocaleString() },
      clock(e.time),
    ),
    el('span', { className: `kind kind-${e.kind}` }, e.kind),
    detail,
  )
  if (fresh) list.prepend(li)
  else list.append(li)
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild.remove()
  $('events-empty').hidden = true
}

async function loadEvents() {
  const { items } = await api(`/api/v1/events?limit=${EVENTS_SHOWN}`)
  $('event-list').replaceChildren()
  for (const e of items) addEvent(e, false)
  $('events-empty').hidden = items.length > 0
}

// --- start ----------------------------------------------------------------------

async function refreshTables() {
  if (!document.hidden) await Promise.allSettled([loadClients(), loadTopics()])
  setTimeout(refreshTables, TABLE_REFRESH_MS)
}

async function start() {
  for (const def of CHARTS) for (const [key] of def.series) data.series[key] = []
  buildCharts()
  setupClientControls()
  try {
    const o = await api('/api/v1/overview')
    showOverview(o)
    await loadHistory()
    await loadEvents()
  } catch (err) {
    setLink('offline', 'Offline')
    console.error(err)
  }
  openStream()
  refreshTables()
}

// for tests and the curious: the charts and their data
window.petrelDashboard = { plots, data }
start()
