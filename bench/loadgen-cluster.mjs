// The shared loadgen (../shared/tools/loadgen/loadgen.c) built for a cluster of brokers, by exact
// textual patches like bench/loadgen-v5.mjs and bench/loadgen-patch.mjs (each must match exactly
// once, so a changed loadgen.c fails loudly instead of building a wrong client). Same program,
// scenarios, accounting and output; only where each client connects changes, for bench/cluster.mjs:
//
//   --ports P1,P2,...      publishers (and mesh clients) connect round-robin: publisher i to
//                          P[i % n] (default: --port)
//   --sub-ports S1,S2,...  subscribers connect round-robin: subscriber i to S[i % n]
//                          (default: the --ports list)
//   --settle-ms MS         once every subscriber has its SUBACK, wait MS before publishing starts
//                          (default 0). A SUBACK tells that the subscriber's own node has the
//                          subscription, not that the other nodes have heard of it yet (NATS
//                          interest, Redis SUBSCRIBE): without the wait the first messages of a
//                          run may go to a node that does not know the subscriber yet. The wait is
//                          outside the measured time (publish start is taken after it).
//
// So publishers and subscribers sit on different nodes, e.g. one2one: --ports A --sub-ports B;
// fanin: --ports A,C --sub-ports B; fanout: --ports A --sub-ports B,C; mesh: --ports A,B,C.
//
// How to run (normally bench/cluster.mjs builds and runs it):
//   node -e "import('./bench/loadgen-cluster.mjs').then(m => console.log(m.clusterLoadgenPath('../shared/tools/loadgen/loadgen.c', '/tmp', e => { throw new Error(e) })))"
//   /tmp/mqtt-loadgen-cluster --ports 1884 --sub-ports 1885 --settle-ms 500 --scenario one2one --qos 1 --count 10000 --json
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { applyPatches } from './loadgen-patch.mjs'

const CODE = `
/* ---------- ports per role (bench/loadgen-cluster.mjs) ---------- */
#define LC_MAX_PORTS 64
static int lc_pub_ports[LC_MAX_PORTS], lc_npub_ports;
static int lc_sub_ports[LC_MAX_PORTS], lc_nsub_ports;
static long lc_settle_ms;

/* "P1,P2,..." into ports; 0 on a malformed list */
static int lc_parse_ports(const char *s, int *ports, int *n)
{
    *n = 0;
    while (*s) {
        char *end;
        long p = strtol(s, &end, 10);
        if (end == s || p <= 0 || p > 65535 || *n == LC_MAX_PORTS) return 0;
        ports[(*n)++] = (int)p;
        if (*end == ',') end++;
        else if (*end) return 0;
        s = end;
    }
    return *n > 0;
}

/* the port client c connects to: subscribers (not mesh) from --sub-ports, others from --ports */
static int lc_port(const client_t *c)
{
    if (c->pub_idx < 0 && lc_nsub_ports) return lc_sub_ports[c->sub_idx % lc_nsub_ports];
    if (c->pub_idx < 0 && lc_npub_ports) return lc_pub_ports[c->sub_idx % lc_npub_ports];
    if (c->pub_idx >= 0 && lc_npub_ports) return lc_pub_ports[c->pub_idx % lc_npub_ports];
    return cfg.port;
}

static void lc_settle(void)
{
    if (lc_settle_ms <= 0) return;
    struct timespec ts = { lc_settle_ms / 1000, (lc_settle_ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_flag) {}
}

static void start_connect(client_t *c, struct sockaddr_in *sa)
{`

const PATCHES = [
  // the helpers, where client_t, cfg and stop_flag are known
  ['\nstatic void start_connect(client_t *c, struct sockaddr_in *sa)\n{', CODE],
  // each client to its own port
  [
    '    if (connect(c->fd, (struct sockaddr *)sa, sizeof *sa) < 0 && errno != EINPROGRESS) {\n        fprintf(stderr, "loadgen: connect %s:%d: %s\\n", cfg.host, cfg.port, strerror(errno));',
    '    struct sockaddr_in lc_sa = *sa;\n    lc_sa.sin_port = htons((uint16_t)lc_port(c));\n    if (connect(c->fd, (struct sockaddr *)&lc_sa, sizeof lc_sa) < 0 && errno != EINPROGRESS) {\n        fprintf(stderr, "loadgen: connect %s:%d: %s\\n", cfg.host, lc_port(c), strerror(errno));',
  ],
  // --settle-ms: between the last SUBACK and the publish start
  [
    '            if (n_ready == ncl) {\n                t_ready = now;',
    '            if (n_ready == ncl) {\n                lc_settle();\n                t_ready = now;',
  ],
  // the options
  [
    '        { "retain", no_argument, 0, \'R\' },\n',
    `        { "retain", no_argument, 0, 'R' },
        { "ports", required_argument, 0, 1301 }, { "sub-ports", required_argument, 0, 1302 },
        { "settle-ms", required_argument, 0, 1303 },
`,
  ],
  [
    "        case 'R': cfg.retain = 1; break;\n",
    `        case 'R': cfg.retain = 1; break;
        case 1301: if (!lc_parse_ports(optarg, lc_pub_ports, &lc_npub_ports)) usage(); break;
        case 1302: if (!lc_parse_ports(optarg, lc_sub_ports, &lc_nsub_ports)) usage(); break;
        case 1303: lc_settle_ms = atol(optarg); if (lc_settle_ms < 0 || lc_settle_ms > 600000) usage(); break;
`,
  ],
  [
    '        "  --retain: publish with the RETAIN flag set.\\n");',
    `        "  --retain: publish with the RETAIN flag set.\\n"
        "  --ports P1,P2,...: publishers (and mesh clients) connect round-robin to these (default --port).\\n"
        "  --sub-ports S1,S2,...: subscribers connect round-robin to these (default the --ports list).\\n"
        "  --settle-ms MS: wait MS after the last SUBACK before publishing (default 0).\\n");`,
  ],
]

/** Builds (when loadgen.c or this script changed) the cluster loadgen into `dir`; returns its path. */
export function clusterLoadgenPath(src, dir, fail) {
  const bin = join(dir, 'mqtt-loadgen-cluster')
  const self = new URL(import.meta.url).pathname
  const stale = !existsSync(bin) || [src, self].some((p) => statSync(bin).mtimeMs < statSync(p).mtimeMs)
  if (stale) {
    const code = applyPatches(readFileSync(src, 'utf8'), PATCHES, 'cluster', fail)
    const patched = join(dir, 'mqtt-loadgen-cluster.c')
    writeFileSync(patched, code)
    try {
      execFileSync('cc', ['-O2', '-Wall', '-o', bin, patched], { stdio: 'inherit' })
    } catch {
      fail(`building the cluster loadgen from ${patched} failed (see the compiler output above)`)
    }
  }
  return bin
}
