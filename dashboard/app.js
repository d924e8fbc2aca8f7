// Petrel dashboard: plain browser JavaScript, no build step. Reads the broker's HTTP API:
// /api/v1/history once, then /api/v1/stream (Server-Sent Events, one per page); the tables are
// paged, sorted and filtered by the server (/api/v1/clients, /api/v1/topics) and refreshed
// every few seconds while the page is visible.
;(() => {
  const HOUR = 3600
  const TABLE_REFRESH_MS = 5000
  const PAGE_SIZE = 50
  const EVENTS_SHOWN = 200
  const TOKEN_KEY = 'petrel.token'
  const $ = (id) => document.getElementById(id)

  // --- formatting ------------------------------------------------------------

  const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
  function count(n) {
    if (n == null) return '–'
    const a = Math.abs(n)
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G'
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M'
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k'
    return a < 10 && n % 1 !== 0 ? n.toFixed(1) : nf.format(n)
  }
  function bytes(n) {
    if (n == null) return '–'
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let i = 0
    while (Math.abs(n) >= 1024 && i < units.length - 1) {
      n /= 1024
      i++
    }
    return (i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i]
  }
  function seconds(s) {
    if (s == null) return '–'
    if (s === 0) return '0'
    if (s < 1e-3) return (s * 1e6).toFixed(0) + ' µs'
    if (s < 1) return +(s * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0) + ' ms'
    return +s.toFixed(2) + ' s'
  }
  function duration(sec) {
    const d = Math.floor(sec / 86400)
    const h = Math.floor((sec % 86400) / 3600)
    const m = Math.floor((sec % 3600) / 60)
    if (d > 0) return `${d}d ${h}h`
    if (h > 0) return `${h}h ${m}m`
    if (m > 0) return `${m}m ${Math.floor(sec % 60)}s`
    return `${Math.floor(sec)}s`
  }
  function since(iso) {
    if (!iso) return '–'
    return duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000)) + ' ago'
  }
  const PROTOCOLS = { 3: '3.1', 4: '3.1.1', 5: '5.0' }
  const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false })

  function el(tag, props, ...children) {
    const e = document.createElement(tag)
    if (props) for (const [k, v] of Object.entries(props)) if (v != null) e[k] = v
    for (const c of children) e.append(c)
    return e
  }

  // --- the API, with the bearer token when the endpoint asks for one ------------

  let token = sessionStorage.getItem(TOKEN_KEY)
  let asking = null

  /** Shows the token dialog once, however many requests were refused meanwhile. */
  function askToken(refused) {
    asking ??= new Promise((resolve) => {
      const dialog = $('token-dialog')
      $('token-error').hidden = !refused
      $('token-input').value = ''
      dialog.addEventListener(
        'close',
        () => {
          token = $('token-input').value.trim()
          sessionStorage.setItem(TOKEN_KEY, token)
          asking = null
          resolve()
        },
        { once: true },
      )
      dialog.showModal()
    })
    return asking
  }

  async function api(path, options = {}) {
    for (;;) {
      const headers = token ? { authorization: `Bearer ${token}` } : {}
      const res = await fetch(path, { ...options, headers })
      if (res.status === 401) {
        await askToken(token !== null && token !== '')
        continue
      }
      const body = res.headers.get('content-type')?.includes('json') ? await res.json() : null
      if (!res.ok)
        throw Object.assign(new Error(body?.error?.message ?? res.statusText), { status: res.status })
      return body
    }
  }

  // --- charts -----------------------------------------------------------------

  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()
  /** Steps of a bytes axis: 1, 2, 5 ... times a power of 1024, so its labels are round. */
  const BINARY_STEPS = [1, 1024, 1024 ** 2, 1024 ** 3].flatMap((u) =>
    [1, 2, 5, 10, 20, 50, 100, 200, 500].map((m) => m * u),
  )
  // floor: the least the y axis shows, so an idle broker's chart is not scaled to noise
  const CHARTS = [
    {
      id: 'c-messages',
      floor: 10,
      fmt: count,
      series: [
        ['messagesIn', 'in', '--in'],
        ['messagesOut', 'out', '--out'],
      ],
    },
    {
      id: 'c-bytes',
      floor: 1024,
      incrs: BINARY_STEPS,
      fmt: bytes,
      series: [
        ['bytesIn', 'in', '--in'],
        ['bytesOut', 'out', '--out'],
      ],
    },
    { id: 'c-connections', floor: 10, fmt: count, series: [['connections', 'connected', '--accent']] },
    { id: 'c-dropped', floor: 10, fmt: count, series: [['dropped', 'dropped', '--bad']] },
    { id: 'c-commit', floor: 0.001, fmt: seconds, series: [['commitP99Seconds', 'p99', '--violet']] },
    { id: 'c-loop', floor: 0.01, fmt: seconds, series: [['eventLoopDelayP99Seconds', 'p99', '--warn']] },
  ]
  const CHART_HEIGHT = 170
  /** '#rrggbb' with an alpha, as canvas takes it. */
  function alpha(hex, a) {
    const n = Number.parseInt(hex.slice(1), 16)
    return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`
  }
  /** Time axis labels: hh:mm over a long span, hh:mm:ss over a short one. */
  function timeTicks(u, ticks) {
    const span = u.scales.x.max - u.scales.x.min
    const opts = span > 600 ? { hour: '2-digit', minute: '2-digit', hour12: false } : { hour12: false }
    return ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], opts))
  }
  /** One array of unix seconds, and one per series, shared by the charts. */
  const data = { time: [], series: {} }
  const plots = []

  function makeChart(def) {
    const fig = document.getElementById(def.id)
    const box = fig.querySelector('.plot')
    box.replaceChildren()
    const keys = fig.querySelector('.keys')
    keys.replaceChildren()
    const values = def.series.map(([, label, color]) => {
      const swatch = el('i')
      swatch.style.background = css(color)
      const value = el('b', null, '–')
      keys.append(el('span', { className: 'key' }, swatch, `${label} `, value))
      return value
    })
    const axis = {
      stroke: css('--muted'),
      font: '11px system-ui, sans-serif',
      grid: { stroke: css('--line'), width: 1 },
      ticks: { show: false },
    }
    const p = { def, box, values, plot: null }
    const opts = {
      width: Math.max(200, box.clientWidth),
      height: CHART_HEIGHT,
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      legend: { show: false },
      padding: [8, 12, 0, 0],
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(def.floor, max * 1.15)] } },
      axes: [
        { ...axis, space: 80, values: timeTicks },
        {
          ...axis,
          size: 64,
          space: 36,
          ...(def.incrs ? { incrs: def.incrs } : {}),
          values: (_u, ticks) => ticks.map((t) => def.fmt(t)),
        },
      ],
      series: [
        {},
        ...def.series.map(([, label, color]) => ({
          label,
          stroke: css(color),
          width: 1.6,
          fill: alpha(css(color), 0.1),
          points: { show: false },
        })),
      ],
      hooks: { setCursor: [(u) => showKeys(p, u.cursor.idx)] },
    }
    p.plot = new uPlot(opts, chartData(def), box)
    plots.push(p)
  }

  /** The figures beside a chart's title: at the cursor, or the latest. */
  function showKeys(p, idx) {
    const i = idx ?? data.time.length - 1
    p.def.series.forEach(([key], n) => {
      const v = data.series[key]?.[i]
      p.values[n].textContent = v == null ? '–' : p.def.fmt(v)
    })
  }

  const chartData = (def) => [data.time, ...def.series.map(([key]) => data.series[key])]

  function drawCharts() {
    for (const p of plots) {
      p.plot.setData(chartData(p.def))
      if (p.plot.cursor.idx == null) showKeys(p, null)
    }
  }

  function buildCharts() {
    for (const p of plots.splice(0)) p.plot.destroy()
    for (const def of CHARTS) makeChart(def)
  }

  new ResizeObserver(() => {
    for (const p of plots)
      if (p.box.clientWidth > 0) p.plot.setSize({ width: p.box.clientWidth, height: CHART_HEIGHT })
  }).observe(document.querySelector('.charts'))
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', buildCharts)

  async function loadHistory() {
    const h = await api('/api/v1/history')
    data.time = h.time
    for (const key of Object.keys(h.series)) data.series[key] = h.series[key]
    drawCharts()
  }

  /** The stream's overview as one more point on every chart (an hour kept). */
  function addPoint(o) {
    const t = Math.round(o.time / 1000)
    if (data.time.length > 0 && t <= data.time[data.time.length - 1]) return
    const point = {
      ...o.rates,
      connections: o.connections.current,
      commitP99Seconds: o.store.commitP99Seconds,
      eventLoopDelayP99Seconds: o.eventLoop.delayP99Seconds,
    }
    data.time.push(t)
    for (const key of Object.keys(data.series)) data.series[key].push(point[key] ?? null)
    if (data.time.length > HOUR) {
      data.time.shift()
      for (const key of Object.keys(data.series)) data.series[key].shift()
    }
    drawCharts()
  }

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
})()
