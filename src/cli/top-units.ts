/** Human units for `petrel top`: 1.23k, 4.56 MiB, 1.2 ms, 3d 04:05:06. Pure functions. */

const COUNT_UNITS = ['', 'k', 'M', 'G', 'T', 'P']
const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** Three significant digits at most: 1.23, 12.3, 123. */
function sig3(x: number): string {
  if (x < 10) return x.toFixed(2).replace(/\.?0+$/, '')
  if (x < 100) return x.toFixed(1).replace(/\.0$/, '')
  return x.toFixed(0)
}

/** `value` scaled by `base` until under it, with its unit; 999.7 becomes 1k rather than 1000. */
function scaled(value: number, base: number, units: readonly string[]): [string, string] {
  let v = Math.abs(value)
  let i = 0
  while (i < units.length - 1 && Number(sig3(v)) >= base) {
    v /= base
    i++
  }
  return [`${value < 0 ? '-' : ''}${sig3(v)}`, units[i]!]
}

/** A count: 950, 1.23k, 45.6M; a fraction (a rate) with three significant digits: 0.5, 12.3. */
export function count(n: number): string {
  if (Math.abs(n) < 1000 && Number.isInteger(n)) return String(n)
  const [v, u] = scaled(n, 1000, COUNT_UNITS)
  return `${v}${u}`
}

/** A size in bytes: 151 B, 1.5 KiB, 12.3 MiB (powers of 1024). */
export function bytes(n: number): string {
  if (Math.abs(n) < 1024) return `${Math.round(n)} B`
  const [v, u] = scaled(n, 1024, BYTE_UNITS)
  return `${v} ${u}`
}

/** A rate per second: 0.5/s, 120/s, 1.23k/s. */
export function perSecond(n: number): string {
  return `${count(n)}/s`
}

/** Seconds as milliseconds or seconds: 0.05 ms, 1.2 ms, 340 ms, 1.5 s. */
export function duration(seconds: number): string {
  if (seconds >= 1) return `${sig3(seconds)} s`
  return `${sig3(seconds * 1000)} ms`
}

/** A ratio 0..1 as a percentage: 34%. */
export function percent(ratio: number): string {
  return `${Math.round(ratio * 100)}%`
}

/** An uptime or an age: 42s, 12m 03s, 04:05:06, 3d 04:05:06. */
export function elapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const two = (n: number): string => String(n).padStart(2, '0')
  if (d > 0) return `${d}d ${two(h)}:${two(m)}:${two(sec)}`
  if (h > 0) return `${two(h)}:${two(m)}:${two(sec)}`
  if (m > 0) return `${m}m ${two(sec)}s`
  return `${sec}s`
}
