import type { HttpContext, Route } from './route.js'

/** (to be built: issue 14) */
export function metricsRoute(_ctx: HttpContext): Route {
  return () => false
}
