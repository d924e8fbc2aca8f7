/**
 * A token bucket holding one second's worth of `rate`: `tokens` as of `at` topped up for the
 * time since (ms), at most full. Per-address connection rates and per-connection inbound rates.
 */
export function topUp(tokens: number, at: number, now: number, rate: number): number {
  return Math.min(rate, tokens + ((now - at) * rate) / 1000)
}
