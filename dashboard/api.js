// Petrel dashboard: the HTTP API, with the bearer token when the endpoint asks for one (kept in
// the tab's sessionStorage).
import { $ } from './format.js'

const TOKEN_KEY = 'petrel.token'

let token = sessionStorage.getItem(TOKEN_KEY)

/** The token given so far (null: none asked for yet). */
export const currentToken = () => token
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

export async function api(path, options = {}) {
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
