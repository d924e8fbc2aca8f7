#!/usr/bin/env bash
# The broker's CPU at a fixed message rate, with the HTTP endpoint off, then on with /metrics
# fetched every second; 3 rounds, alternating. At a fixed rate the work per second is the same,
# so a difference in CPU is what the endpoint costs under that load.
#
#   npm run build && cc -O2 -o /tmp/mqtt-loadgen ../shared/tools/loadgen/loadgen.c
#   bench/http-fixed-rate.sh one2one 0 100000 1000000      # scenario, QoS, msg/s per publisher, messages per publisher
# Needs curl. Stops only the processes it started (by PID).
set -u
if [ $# -ne 4 ]; then echo "usage: $0 SCENARIO QOS RATE COUNT" >&2; exit 2; fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LG="${LOADGEN:-/tmp/mqtt-loadgen}"
[ -x "$LG" ] || { echo "no loadgen at $LG: cc -O2 -o /tmp/mqtt-loadgen ../shared/tools/loadgen/loadgen.c" >&2; exit 2; }
SC=$1; Q=$2; RATE=$3; COUNT=$4
for round in 1 2 3; do
for mode in off on; do
  args=(broker --port 18850 --memory --log-level warn)
  [ $mode = on ] && args+=(--http-port 18871)
  node "$ROOT/dist/cli/main.js" "${args[@]}" >/dev/null 2>&1 &
  BP=$!
  sleep 1.5
  SP=""
  if [ $mode = on ]; then ( while true; do curl -s -o /dev/null localhost:18871/metrics; sleep 1; done ) & SP=$!; fi
  "$LG" --host 127.0.0.1 --port 18850 --scenario $SC --qos $Q --size 64 --count $((COUNT/10)) --rate $RATE --idle 1 --json >/dev/null 2>&1
  a=$(cut -d' ' -f14-15 /proc/$BP/stat | awk '{print $1+$2}'); t0=$(date +%s.%N)
  out=$("$LG" --host 127.0.0.1 --port 18850 --scenario $SC --qos $Q --size 64 --count $COUNT --rate $RATE --idle 1 --json 2>/dev/null)
  b=$(cut -d' ' -f14-15 /proc/$BP/stat | awk '{print $1+$2}'); t1=$(date +%s.%N)
  [ -n "$SP" ] && kill $SP
  kill $BP; wait $BP 2>/dev/null
  awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" -v what="$SC q$Q rate $RATE r$round $mode" -v got="$(echo "$out" | grep -o '"received":[0-9]*')" \
    'BEGIN { printf "%s: broker cpu %.1f%% over %.1f s, %s\n", what, (b - a) * 10 / (t1 - t0) / 10, t1 - t0, got }'
done; done
