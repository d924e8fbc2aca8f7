/** The load shapes of `petrel bench` (the same as emqtt-bench's and the repo's loadgen). */
export const SCENARIOS = ['one2one', 'fanin', 'fanout', 'mesh', 'conn'] as const
export type ScenarioName = (typeof SCENARIOS)[number]

export function isScenario(s: string): s is ScenarioName {
  return (SCENARIOS as readonly string[]).includes(s)
}

/** Default --clients per scenario. */
export const DEFAULT_CLIENTS: Record<ScenarioName, number> = {
  one2one: 1,
  fanin: 20,
  fanout: 20,
  mesh: 20,
  conn: 1000,
}

/** One connection of the run: it may publish to a topic, subscribe to a filter, both, or neither. */
export interface Participant {
  /** Index among the publishers, or -1. */
  publisher: number
  /** Where it publishes: this topic with one topic per publisher, else `<topic>/<seq % topics>`. */
  topic: string | undefined
  filter: string | undefined
  /** Publisher indexes whose messages this subscriber should get. */
  from: number[]
}

export interface Topology {
  participants: Participant[]
  publishers: number
  subscribers: number
  /** Deliveries expected per message of each publisher (how many subscribers get it). */
  fanout: number[]
  /** What the run looks like, e.g. '20 publishers -> 1 subscriber'. */
  shape: string
}

export interface ShapeOptions {
  /** Topics per publisher (--topics): above 1, a level is added under each topic and filters end in '#'. */
  topics: number
  /** conn: how many of the connections publish to their own topic and subscribe to it. */
  active: number
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

/** conn --active: `active` of `n` connections, spread evenly (connection i when i * active / n crosses a whole number). */
function isActive(i: number, n: number, active: number): boolean {
  return Math.floor(((i + 1) * active) / n) > Math.floor((i * active) / n)
}

/**
 * Who publishes where and who subscribes to what. `clients` is pairs for
 * one2one, publishers for fanin, subscribers for fanout, peers for mesh and
 * connections for conn. Topics live under `prefix`, unique per run unless
 * retained, so runs against a shared broker do not see each other's messages.
 * With several topics per publisher each subscriber takes `<its topic>/#`, the
 * loadgen's shape: every subscriber still gets exactly the publishers it expects.
 */
export function topology(
  name: ScenarioName,
  clients: number,
  prefix: string,
  shape: ShapeOptions = { topics: 1, active: 0 },
): Topology {
  const ps: Participant[] = []
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
  const many = shape.topics > 1
  /** The filter that takes every topic of a publisher publishing under `topic`. */
  const under = (topic: string): string => (many ? `${topic}/#` : topic)
  switch (name) {
    case 'one2one':
      for (let i = 0; i < clients; i++) {
        ps.push({ publisher: i, topic: `${prefix}/${i}`, filter: undefined, from: [] })
        ps.push({ publisher: -1, topic: undefined, filter: under(`${prefix}/${i}`), from: [i] })
      }
      return done(
        ps,
        clients,
        clients,
        `${plural(clients, 'publisher')} -> ${plural(clients, 'subscriber')}, in pairs`,
      )
    case 'fanin':
      for (let i = 0; i < clients; i++)
        ps.push({ publisher: i, topic: `${prefix}/${i}`, filter: undefined, from: [] })
      ps.push({
        publisher: -1,
        topic: undefined,
        filter: `${prefix}/${many ? '#' : '+'}`,
        from: range(clients),
      })
      return done(ps, clients, 1, `${plural(clients, 'publisher')} -> 1 subscriber`)
    case 'fanout':
      ps.push({ publisher: 0, topic: `${prefix}/all`, filter: undefined, from: [] })
      for (let i = 0; i < clients; i++)
        ps.push({ publisher: -1, topic: undefined, filter: under(`${prefix}/all`), from: [0] })
      return done(ps, 1, clients, `1 publisher -> ${plural(clients, 'subscriber')}`)
    case 'mesh': {
      const filter = `${prefix}/${many ? '#' : '+'}`
      for (let i = 0; i < clients; i++) {
        ps.push({ publisher: i, topic: `${prefix}/${i}`, filter, from: range(clients) })
      }
      return done(ps, clients, clients, `${plural(clients, 'peer')}, each publishing to all`)
    }
    case 'conn': {
      let publishers = 0
      for (let i = 0; i < clients; i++) {
        if (isActive(i, clients, shape.active)) {
          const topic = `${prefix}/${i}`
          const idx = publishers++
          ps.push({ publisher: idx, topic, filter: under(topic), from: [idx] })
        } else ps.push({ publisher: -1, topic: undefined, filter: undefined, from: [] })
      }
      const what =
        publishers > 0
          ? `${plural(clients, 'connection')}, ${publishers} active (each to itself)`
          : plural(clients, 'idle connection')
      return done(ps, publishers, publishers, what)
    }
  }
}

function done(participants: Participant[], publishers: number, subscribers: number, shape: string): Topology {
  const fanout = new Array<number>(publishers).fill(0)
  for (const p of participants) for (const f of p.from) fanout[f]!++
  return { participants, publishers, subscribers, fanout, shape }
}
