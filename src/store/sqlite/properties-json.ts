import type { PublishProperties, UserProperties } from '../../protocol/packets.js'

/**
 * MQTT 5 message properties as a TEXT column. JSON, so the database stays readable with
 * the sqlite3 shell; Correlation Data, the one binary property, is base64. Only the
 * properties a message keeps are written (not Topic Alias, Message Expiry Interval or
 * Subscription Identifiers: the broker keeps those apart).
 */
interface Json {
  pfi?: 0 | 1
  ct?: string
  rt?: string
  cd?: string
  up?: UserProperties
}

/** null when there is nothing to keep (a 3.1.1 message, or one without properties). */
export function propertiesToJson(p: PublishProperties | null | undefined): string | null {
  if (p === null || p === undefined) return null
  const j: Json = {}
  let any = false
  if (p.payloadFormatIndicator !== undefined) {
    j.pfi = p.payloadFormatIndicator
    any = true
  }
  if (p.contentType !== undefined) {
    j.ct = p.contentType
    any = true
  }
  if (p.responseTopic !== undefined) {
    j.rt = p.responseTopic
    any = true
  }
  if (p.correlationData !== undefined) {
    j.cd = p.correlationData.toString('base64')
    any = true
  }
  if (p.userProperties !== undefined && p.userProperties.length > 0) {
    j.up = p.userProperties
    any = true
  }
  return any ? JSON.stringify(j) : null
}

export function propertiesFromJson(text: string | null): PublishProperties | null {
  if (text === null || text === '') return null
  const j = JSON.parse(text) as Json
  const p: PublishProperties = {}
  if (j.pfi !== undefined) p.payloadFormatIndicator = j.pfi
  if (j.ct !== undefined) p.contentType = j.ct
  if (j.rt !== undefined) p.responseTopic = j.rt
  if (j.cd !== undefined) p.correlationData = Buffer.from(j.cd, 'base64')
  if (j.up !== undefined) p.userProperties = j.up
  return p
}

/** Subscription identifiers as a TEXT column: '1,7'; null for none. */
export function idsToText(ids: number[] | null | undefined): string | null {
  return ids === null || ids === undefined || ids.length === 0 ? null : ids.join(',')
}

export function idsFromText(text: string | null): number[] | null {
  return text === null || text === '' ? null : text.split(',').map(Number)
}
