import type { HttpContext, Route } from './route.js'

/** (to be built: issue 14) */
export function adminRoute(_ctx: HttpContext): Route {
  return () => false
}
