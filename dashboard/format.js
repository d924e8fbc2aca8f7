// Petrel dashboard: formatting of figures and a small element builder (no HTML strings:
// what clients choose, ids and topics, only ever becomes text).
export const $ = (id) => document.getElementById(id)

export const nf = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
export function count(n) {
  if (n == null) return '–'
  const a = Math.abs(n)
  if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G'
  if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M'
  if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'k'
  return a < 10 && n % 1 !== 0 ? n.toFixed(1) : nf.format(n)
}
export function bytes(n) {
  if (n == null) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (Math.abs(n) >= 1024 && i < units.length - 1) {
    n /= 1024
    i++
  }
  return (i === 0 ? Math.round(n) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[i]
}
export function seconds(s) {
  if (s == null) return '–'
  if (s === 0) return '0'
  if (s < 1e-3) return (s * 1e6).toFixed(0) + ' µs'
  if (s < 1) return +(s * 1e3).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0) + ' ms'
  return +s.toFixed(2) + ' s'
}
export function duration(sec) {
  const d = Math.floor(sec / 86400)
  const h = Math.floor((sec % 86400) / 3600)
  const m = Math.floor((sec % 3600) / 60)
  if (d > 0) return `${d}d ${h}h`
  if (h > 0) return `${h}h ${m}m`
  if (m > 0) return `${m}m ${Math.floor(sec % 60)}s`
  return `${Math.floor(sec)}s`
}
export function since(iso) {
  if (!iso) return '–'
  return duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000)) + ' ago'
}
export const PROTOCOLS = { 3: '3.1', 4: '3.1.1', 5: '5.0' }
export const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false })

export function el(tag, props, ...children) {
  const e = document.createElement(tag)
  if (props) for (const [k, v] of Object.entries(props)) if (v != null) e[k] = v
  for (const c of children) e.append(c)
  return e
}
