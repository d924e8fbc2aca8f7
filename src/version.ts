import { readFileSync } from 'node:fs'

/**
 * Petrel's version, read once from its package.json (the nearest one named petrel
 * above this file: dist/ in a package, build/src/ in the repository's tests).
 */
export const VERSION: string = findVersion()

function findVersion(): string {
  for (let dir = new URL('.', import.meta.url); ; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as {
        name?: string
        version?: string
      }
      if (pkg.name === 'petrel' && typeof pkg.version === 'string') return pkg.version
    } catch {
      // no package.json here: look further up
    }
    if (dir.pathname === '/') return 'unknown'
  }
}
