import type BetterSqlite3 from 'better-sqlite3'

/**
 * Brings the tables of a database written by an older Petrel up to this one: every
 * column in `added` that a table lacks is added with its default. Keyed by the columns
 * present rather than by a version number, so that migrations written side by side
 * (one per table) never collide, and opening twice changes nothing.
 */
export function addMissingColumns(
  db: BetterSqlite3.Database,
  added: Record<string, [name: string, definition: string][]>,
): void {
  for (const [table, columns] of Object.entries(added)) {
    const have = new Set(
      (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name),
    )
    for (const [name, definition] of columns) {
      if (!have.has(name)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} ${definition}`)
    }
  }
}
