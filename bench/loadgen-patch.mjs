// Builds transport variants of the shared loadgen (../shared/tools/loadgen/loadgen.c) by exact
// textual patches, like bench/loadgen-v5.mjs: every patch must match exactly once, so a changed
// loadgen.c fails loudly instead of building a wrong client. Used by bench/loadgen-tls.mjs and
// bench/loadgen-ws.mjs (how to run: see those; this file is only imported); both share:
//
//   * the transport seam: read()/send() on the client socket become xp_read()/xp_write(), the
//     variant's C code (inserted before close_client) implements them together with xp_init()
//     (after the options are parsed), xp_start() (TCP connected, before CONNECT is queued),
//     xp_close(), xp_events() (epoll events, for cross-direction wants) and xp_flush() (a
//     do_write() with nothing of loadgen's own left to send);
//   * --conn-concurrency K: at most K connections between connect() and CONNACK at a time
//     (0, the default: all at once, as loadgen does). A storm of thousands of SYNs against a
//     listen backlog of 100 (Mosquitto's) would measure SYN retransmission timers, not brokers.
//     loadgen already reports connect_ms (start -> the last CONNACK), which with this option is
//     the connections-per-second figure: clients / connect_ms.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** The seam and --conn-concurrency; `impl` is the variant's C transport code. */
function seamPatches(impl, fields) {
  return [
    // per-client transport state
    ['    uint64_t last_tx;\n} client_t;', `    uint64_t last_tx;\n${fields}} client_t;`],
    // the transport code, where client_t and cfg are known and before its first use
    [
      'static void close_client(client_t *c, const char *why)\n{',
      `${impl}\nstatic void close_client(client_t *c, const char *why)\n{`,
    ],
    ['    close(c->fd);\n    c->fd = -1;\n', '    xp_close(c);\n    close(c->fd);\n    c->fd = -1;\n'],
    [
      '    ssize_t n = read(c->fd, c->rbuf + c->rlen, room);',
      '    ssize_t n = xp_read(c, c->rbuf + c->rlen, room);',
    ],
    [
      '    if (c->wlen == c->woff) return;\n    ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);',
      '    if (c->wlen == c->woff) {\n        xp_flush(c);\n        if (c->pub_active && cfg.qos == 0) pub_check_done(c, now_ns());\n        return;\n    }\n    ssize_t n = xp_write(c, c->wbuf + c->woff, c->wlen - c->woff);',
    ],
    // a QoS 0 publisher is done when its bytes have left, the transport's too
    [
      '        if (c->next_seq == cfg.count && c->woff == c->wlen) {',
      '        if (c->next_seq == cfg.count && c->woff == c->wlen && xp_idle(c)) {',
    ],
    [
      '    c->state = ST_CONNACK_WAIT;\n    send_connect(c);',
      '    c->state = ST_CONNACK_WAIT;\n    xp_start(c);\n    send_connect(c);',
    ],
    [
      '            if (e & EPOLLOUT) c->writable = 1;\n',
      '            if (e & EPOLLOUT) c->writable = 1;\n            xp_events(c, e);\n',
    ],
    [
      '        if (c->woff == c->wlen) (void)!send(c->fd, disc, 2, MSG_NOSIGNAL | MSG_DONTWAIT);',
      '        if (c->woff == c->wlen) (void)!xp_write(c, disc, 2);',
    ],
    ['    setup_clients();\n', '    setup_clients();\n    xp_init();\n'],
    // --conn-concurrency: start K, then one more per CONNACK
    [
      'static void handle_packet(',
      `/* --conn-concurrency (bench/loadgen-patch.mjs) */
static int conn_conc;             /* connections between connect() and CONNACK at most; 0: all at once */
static int conn_started;
static struct sockaddr_in *conn_sa;
static void start_connect(client_t *c, struct sockaddr_in *sa);
static void conn_more(void)
{
    while (conn_started < ncl && (conn_conc == 0 || conn_started - n_connected < conn_conc))
        start_connect(&cl[conn_started++], conn_sa);
}

static void handle_packet(`,
    ],
    ['        n_connected++;\n', '        n_connected++;\n        conn_more();\n'],
    ['    for (int i = 0; i < ncl; i++) start_connect(&cl[i], &sa);', '    conn_sa = &sa;\n    conn_more();'],
  ]
}

/**
 * The options: `opts` are lines for getopt_long's table (codes >= 1000), `cases` the matching
 * switch cases, `help` lines for the usage text.
 */
function optionPatches(opts, cases, help) {
  const allOpts = `        { "conn-concurrency", required_argument, 0, 1000 },\n${opts}`
  const allCases = `        case 1000: conn_conc = atoi(optarg); if (conn_conc < 0) usage(); break;\n${cases}`
  const allHelp = `        "  --conn-concurrency K: at most K connections waiting for CONNACK at a time (default 0: all).\\n"\n${help}`
  return [
    [
      '        { "retain", no_argument, 0, \'R\' },\n',
      `        { "retain", no_argument, 0, 'R' },\n${allOpts}`,
    ],
    ["        case 'R': cfg.retain = 1; break;\n", `        case 'R': cfg.retain = 1; break;\n${allCases}`],
    [
      '        "  --retain: publish with the RETAIN flag set.\\n");',
      `        "  --retain: publish with the RETAIN flag set.\\n"\n${allHelp});`,
    ],
  ]
}

/** Applies [from, to] patches; each `from` must occur exactly once. */
export function applyPatches(code, patches, what, fail) {
  for (const [from, to] of patches) {
    const n = code.split(from).length - 1
    if (n !== 1)
      fail(`loadgen.c changed: the ${what} patch for ${JSON.stringify(from.slice(0, 70))} matches ${n} times`)
    code = code.replace(from, () => to)
  }
  return code
}

/**
 * Builds (when loadgen.c or a patch script changed) the variant `name` into `dir`; returns its path.
 * variant: { name, what, includes, fields, impl, opts, cases, help, libs, self }
 */
export function buildVariant(src, dir, fail, v) {
  const bin = join(dir, v.name)
  const selves = [src, new URL(import.meta.url).pathname, v.self]
  const stale = !existsSync(bin) || selves.some((p) => statSync(bin).mtimeMs < statSync(p).mtimeMs)
  if (stale) {
    let code = readFileSync(src, 'utf8')
    code = applyPatches(
      code,
      [
        ['#include <unistd.h>\n', `#include <unistd.h>\n${v.includes}`],
        ...seamPatches(v.impl, v.fields),
        ...optionPatches(v.opts, v.cases, v.help),
      ],
      v.what,
      fail,
    )
    const patched = join(dir, `${v.name}.c`)
    writeFileSync(patched, code)
    try {
      execFileSync('cc', ['-O2', '-Wall', '-o', bin, patched, ...v.libs], { stdio: 'inherit' })
    } catch {
      fail(`building ${v.name} from ${patched} failed (see the compiler output above)`)
    }
  }
  return bin
}
