/**
 * Topic names and topic filters. [MQTT-4.7]
 * '/' separates levels, '+' matches one level, '#' matches the rest (and the parent).
 */

const SLASH = 0x2f
const PLUS = 0x2b
const HASH = 0x23
const DOLLAR = 0x24

/**
 * A topic name (what PUBLISH carries): at least one character [MQTT-4.7.3-1],
 * no wildcard characters [MQTT-3.3.2-2], no U+0000 [MQTT-4.7.3-2].
 */
export function isValidTopicName(topic: string): boolean {
  const n = topic.length
  if (n === 0) return false
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i)
    if (c === PLUS || c === HASH || c === 0) return false
  }
  return true
}

/**
 * A topic filter (what SUBSCRIBE carries): at least one character [MQTT-4.7.3-1];
 * '#' only alone or after '/', and last [MQTT-4.7.1-2]; '+' fills a whole level
 * [MQTT-4.7.1-3]; no U+0000 [MQTT-4.7.3-2].
 */
export function isValidTopicFilter(filter: string): boolean {
  const n = filter.length
  if (n === 0) return false
  for (let i = 0; i < n; i++) {
    const c = filter.charCodeAt(i)
    if (c === 0) return false
    if (c === PLUS) {
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false
      if (i < n - 1 && filter.charCodeAt(i + 1) !== SLASH) return false
    } else if (c === HASH) {
      if (i !== n - 1) return false
      if (i > 0 && filter.charCodeAt(i - 1) !== SLASH) return false
    }
  }
  return true
}

/**
 * True when a topic name or filter has more than `max` levels. Levels are one more than
 * the '/' in it, so a topic shorter than `max` characters is never scanned.
 */
export function exceedsLevels(topic: string, max: number): boolean {
  if (topic.length < max) return false
  let slashes = 0
  for (let i = 0; i < topic.length; i++) {
    if (topic.charCodeAt(i) === SLASH && ++slashes >= max) return true
  }
  return false
}

/** True when the filter contains '+' or '#'. */
export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#')
}

/**
 * Does `filter` (valid) match `topic` (a valid topic name)?
 * A filter that starts with a wildcard does not match a topic that starts with '$'
 * [MQTT-4.7.2-1].
 */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = filter.length
  const tl = topic.length
  if (tl > 0 && topic.charCodeAt(0) === DOLLAR) {
    const f0 = filter.charCodeAt(0)
    if (f0 === PLUS || f0 === HASH) return false
  }
  let fi = 0
  let ti = 0
  while (fi < fl) {
    const c = filter.charCodeAt(fi)
    if (c === HASH) return true // '#' is last: matches this level and all below, also none
    if (c === PLUS) {
      while (ti < tl && topic.charCodeAt(ti) !== SLASH) ti++
      fi++
    } else {
      // literal level: compare up to the next '/'
      while (fi < fl && filter.charCodeAt(fi) !== SLASH) {
        if (ti >= tl || topic.charCodeAt(ti) !== filter.charCodeAt(fi)) return false
        fi++
        ti++
      }
      if (ti < tl && topic.charCodeAt(ti) !== SLASH) return false
    }
    // both at a level end: either '/' or the end
    if (fi === fl) return ti === tl
    // filter has '/': topic must have '/' too, except 'a/#' also matches 'a'
    if (ti === tl) {
      return fi + 2 === fl && filter.charCodeAt(fi + 1) === HASH
    }
    fi++ // skip '/' in both
    ti++
  }
  return ti === tl
}
