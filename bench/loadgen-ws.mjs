// The shared loadgen turned into an MQTT-over-WebSocket client at build time (libc only), for
// bench/security.mjs. Same program, scenarios and accounting; only the transport differs.
//
// How to run (normally bench/security.mjs builds and runs it):
//   node -e "import('./bench/loadgen-ws.mjs').then(m => console.log(m.wsLoadgenPath('../shared/tools/loadgen/loadgen.c', '/tmp', e => { throw new Error(e) })))"
//   /tmp/mqtt-loadgen-ws --port 8080 --ws-path /mqtt --scenario one2one --qos 1 --count 10000
//
// Options added: --ws-path PATH (default /mqtt); --ws-frames packet|write; --conn-concurrency K
// (bench/loadgen-patch.mjs).
//
// What the transport does (RFC 6455):
//   * after the TCP connect, an HTTP/1.1 Upgrade (GET PATH, Sec-WebSocket-Version 13, a random
//     Sec-WebSocket-Key, Sec-WebSocket-Protocol: mqtt); CONNECT waits for "101" and a
//     Sec-WebSocket-Protocol answer of mqtt (the Sec-WebSocket-Accept value is not checked);
//   * out: one binary frame per MQTT packet, as client libraries (MQTT.js, Paho) send them, or with
//     --ws-frames write one per loadgen write (up to ~128 KB of whole packets, the batching loadgen
//     does over TCP); FIN set, masked with a fresh xorshift32 key per frame (8 bytes at a time);
//   * in: frames unwrapped as a stream (7/16/64-bit lengths, a frame may split an MQTT packet or
//     hold several, continuation and text frames taken as binary, a masked server frame unmasked);
//     a ping is answered with a pong, a close with a close and the end of the connection.
import { buildVariant } from './loadgen-patch.mjs'

const FIELDS = `    /* WebSocket (bench/loadgen-ws.mjs) */
    int ws_state;             /* 1: waiting for 101; 2: open; 3: closed by the broker */
    uint8_t *ws_in; size_t ws_ipos, ws_ilen, ws_icap;     /* bytes read, not yet unwrapped */
    uint8_t *ws_out; size_t ws_ooff, ws_olen, ws_ocap;    /* frames not yet sent */
    uint64_t ws_left;         /* payload bytes left in the current data frame */
    int ws_masked; uint8_t ws_mask[4]; uint32_t ws_moff;
`

const IMPL = `
/* ---------- transport (bench/loadgen-ws.mjs): MQTT over WebSocket ---------- */
static const char *ws_path = "/mqtt";
static int ws_per_write;   /* --ws-frames write: one frame per loadgen write instead of per MQTT packet */
static uint32_t ws_rng = 2463534242u;

static inline uint32_t ws_rand(void)
{
    uint32_t x = ws_rng;
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    return ws_rng = x;
}

static void xp_init(void)
{
    uint32_t seed;
    if (getrandom(&seed, sizeof seed, 0) == sizeof seed && seed) ws_rng = seed;
}

static void ws_reserve_out(client_t *c, size_t extra)
{
    if (c->ws_ooff == c->ws_olen) c->ws_ooff = c->ws_olen = 0;
    if (c->ws_olen + extra <= c->ws_ocap) return;
    if (c->ws_ooff > 0) {
        memmove(c->ws_out, c->ws_out + c->ws_ooff, c->ws_olen - c->ws_ooff);
        c->ws_olen -= c->ws_ooff;
        c->ws_ooff = 0;
        if (c->ws_olen + extra <= c->ws_ocap) return;
    }
    size_t ncap = c->ws_ocap ? c->ws_ocap : 16384;
    while (ncap < c->ws_olen + extra) ncap *= 2;
    c->ws_out = realloc(c->ws_out, ncap);
    if (!c->ws_out) { fprintf(stderr, "loadgen: out of memory\\n"); exit(2); }
    c->ws_ocap = ncap;
}

/* 1: all frames sent; 0: some wait for EPOLLOUT; -1: error (errno) */
static int ws_send_out(client_t *c)
{
    while (c->ws_ooff < c->ws_olen) {
        ssize_t n = send(c->fd, c->ws_out + c->ws_ooff, c->ws_olen - c->ws_ooff, MSG_NOSIGNAL);
        if (n > 0) { c->ws_ooff += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        return -1;
    }
    c->ws_ooff = c->ws_olen = 0;
    return 1;
}

/* one masked frame of opcode op around n bytes of src, queued in ws_out */
static void ws_frame(client_t *c, int op, const uint8_t *src, size_t n)
{
    ws_reserve_out(c, n + 14);
    uint8_t *d = c->ws_out + c->ws_olen;
    size_t h;
    d[0] = (uint8_t)(0x80 | op);
    if (n < 126) { d[1] = (uint8_t)(0x80 | n); h = 2; }
    else if (n < 65536) { d[1] = 0x80 | 126; d[2] = (uint8_t)(n >> 8); d[3] = (uint8_t)n; h = 4; }
    else {
        d[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) d[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    uint32_t m = ws_rand();
    memcpy(d + h, &m, 4);
    const uint8_t *mb = d + h;
    h += 4;
    uint8_t *p = d + h;
    uint64_t m8 = (uint64_t)m | ((uint64_t)m << 32);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { uint64_t v; memcpy(&v, src + i, 8); v ^= m8; memcpy(p + i, &v, 8); }
    for (; i < n; i++) p[i] = src[i] ^ mb[i & 3];
    c->ws_olen += h + n;
}

static void xp_start(client_t *c)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t key[18] = { 0 };
    char k64[25];
    for (int i = 0; i < 16; i++) key[i] = (uint8_t)ws_rand();
    for (int i = 0, o = 0; i < 18; i += 3) {
        uint32_t v = ((uint32_t)key[i] << 16) | ((uint32_t)key[i + 1] << 8) | key[i + 2];
        k64[o++] = b64[(v >> 18) & 63]; k64[o++] = b64[(v >> 12) & 63];
        k64[o++] = b64[(v >> 6) & 63]; k64[o++] = b64[v & 63];
    }
    k64[22] = k64[23] = '='; k64[24] = 0;   /* 16 bytes: 22 characters and "==" */
    c->ws_icap = 65536;
    c->ws_in = xmalloc(c->ws_icap);
    c->ws_ipos = c->ws_ilen = 0;
    ws_reserve_out(c, 600);
    int n = snprintf((char *)c->ws_out + c->ws_olen, 600,
                     "GET %s HTTP/1.1\\r\\nHost: %s:%d\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                     "Sec-WebSocket-Key: %s\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Protocol: mqtt\\r\\n\\r\\n",
                     ws_path, cfg.host, cfg.port, k64);
    c->ws_olen += (size_t)n;
    c->ws_state = 1;
    (void)ws_send_out(c);
}

static void xp_close(client_t *c)
{
    free(c->ws_in); c->ws_in = NULL;
    free(c->ws_out); c->ws_out = NULL;
    c->ws_ocap = c->ws_olen = c->ws_ooff = 0;
}

/* the broker's answer to the Upgrade: 1 done, 0 incomplete, -1 refused (reason on stderr) */
static int ws_handshake(client_t *c)
{
    uint8_t *b = c->ws_in + c->ws_ipos;
    size_t n = c->ws_ilen - c->ws_ipos;
    uint8_t *end = memmem(b, n, "\\r\\n\\r\\n", 4);
    if (!end) {
        if (n > 16384) { fprintf(stderr, "loadgen: %s: HTTP answer too long\\n", c->cid); return -1; }
        return 0;
    }
    *end = 0;   /* a string from here on: the header block */
    const char *h = (const char *)b;
    if (strncmp(h, "HTTP/1.1 101", 12) != 0) {
        const char *eol = strstr(h, "\\r\\n");
        fprintf(stderr, "loadgen: %s: WebSocket upgrade refused: %.*s\\n", c->cid, eol ? (int)(eol - h) : 80, h);
        return -1;
    }
    const char *p = strcasestr(h, "\\r\\nsec-websocket-protocol:");
    if (p) { p += 25; while (*p == ' ' || *p == '\\t') p++; }
    if (!p || strncasecmp(p, "mqtt", 4) != 0 || (p[4] != '\\r' && p[4] != ' ' && p[4] != 0)) {
        fprintf(stderr, "loadgen: %s: the broker did not accept the WebSocket subprotocol mqtt\\n", c->cid);
        return -1;
    }
    c->ws_ipos += (size_t)(end - b) + 4;
    c->ws_state = 2;
    c->writable = 1;   /* CONNECT may go now */
    return 1;
}

/* Unwraps frames from ws_in into out (len bytes, *got used); 0 ok, 1 closed by the broker, -1 error. */
static int ws_unwrap(client_t *c, uint8_t *out, size_t len, size_t *got)
{
    while (c->ws_ipos < c->ws_ilen) {
        uint8_t *b = c->ws_in + c->ws_ipos;
        size_t avail = c->ws_ilen - c->ws_ipos;
        if (c->ws_left > 0) {   /* payload of a data frame: MQTT bytes */
            size_t n = avail;
            if (n > c->ws_left) n = (size_t)c->ws_left;
            if (n > len - *got) n = len - *got;
            if (n == 0) return 0;
            if (c->ws_masked) for (size_t i = 0; i < n; i++) out[*got + i] = b[i] ^ c->ws_mask[(c->ws_moff + i) & 3];
            else memcpy(out + *got, b, n);
            c->ws_moff += (uint32_t)n;
            *got += n; c->ws_ipos += n; c->ws_left -= n;
            continue;
        }
        if (avail < 2) return 0;
        int fin = b[0] & 0x80, op = b[0] & 15, masked = b[1] & 0x80;
        uint64_t plen = b[1] & 127;
        size_t hl = 2 + (plen == 126 ? 2 : plen == 127 ? 8 : 0) + (masked ? 4 : 0);
        if (avail < hl) return 0;
        if (plen == 126) plen = ((uint64_t)b[2] << 8) | b[3];
        else if (plen == 127) { plen = 0; for (int i = 0; i < 8; i++) plen = (plen << 8) | b[2 + i]; }
        if (op >= 8) {   /* control: whole, at most 125 bytes */
            if (!fin || plen > 125) { fprintf(stderr, "loadgen: %s: bad WebSocket control frame\\n", c->cid); errno = EPROTO; return -1; }
            if (avail < hl + plen) return 0;
            uint8_t *pl = b + hl;
            if (masked) for (size_t i = 0; i < plen; i++) pl[i] ^= b[hl - 4 + (i & 3)];
            c->ws_ipos += hl + (size_t)plen;
            if (op == 9) { ws_frame(c, 10, pl, (size_t)plen); if (ws_send_out(c) < 0) return -1; }
            else if (op == 8) {
                ws_frame(c, 8, pl, plen >= 2 ? 2 : 0);   /* echo the status code */
                (void)ws_send_out(c);
                c->ws_state = 3;
                return 1;
            }
            continue;
        }
        if (op > 2) { fprintf(stderr, "loadgen: %s: WebSocket opcode %d\\n", c->cid, op); errno = EPROTO; return -1; }
        c->ws_ipos += hl;
        c->ws_left = plen;
        c->ws_masked = masked;
        if (masked) memcpy(c->ws_mask, b + hl - 4, 4);
        c->ws_moff = 0;
    }
    return 0;
}

static ssize_t xp_read(client_t *c, uint8_t *buf, size_t len)
{
    size_t got = 0;
    for (;;) {
        if (c->ws_state == 3) return got ? (ssize_t)got : 0;
        if (c->ws_state == 1) {
            int h = ws_handshake(c);
            if (h < 0) { errno = ECONNREFUSED; return -1; }
        }
        if (c->ws_state >= 2) {
            int r = ws_unwrap(c, buf, len, &got);
            if (r < 0) return got ? (ssize_t)got : -1;
            if (r > 0) continue;   /* closed: ws_state 3 */
            if (got == len) return (ssize_t)got;
        }
        /* more bytes from the socket; keep the unread tail at the front */
        if (c->ws_ipos == c->ws_ilen) c->ws_ipos = c->ws_ilen = 0;
        else if (c->ws_ipos > 0 && c->ws_ilen == c->ws_icap) {
            memmove(c->ws_in, c->ws_in + c->ws_ipos, c->ws_ilen - c->ws_ipos);
            c->ws_ilen -= c->ws_ipos;
            c->ws_ipos = 0;
        }
        if (c->ws_ilen == c->ws_icap) {   /* only while the HTTP answer is incomplete */
            c->ws_icap *= 2;
            c->ws_in = realloc(c->ws_in, c->ws_icap);
            if (!c->ws_in) { fprintf(stderr, "loadgen: out of memory\\n"); exit(2); }
        }
        ssize_t n = read(c->fd, c->ws_in + c->ws_ilen, c->ws_icap - c->ws_ilen);
        if (n > 0) { c->ws_ilen += (size_t)n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (got) return (ssize_t)got;   /* EAGAIN (drained), or the end/error again on the next call */
        return n;
    }
}

static ssize_t xp_write(client_t *c, const uint8_t *buf, size_t len)
{
    int s = ws_send_out(c);
    if (s < 0) return -1;
    if (s == 0 || c->ws_state != 2) { errno = EAGAIN; return -1; }
    if (ws_per_write) ws_frame(c, 2, buf, len);
    else {
        /* one frame per MQTT packet, as client libraries send them; buf holds whole packets */
        size_t off = 0;
        while (off < len) {
            size_t rl = 0, mult = 1, i = 1;
            while (off + i < len && i < 5) {
                uint8_t b = buf[off + i++];
                rl += (size_t)(b & 127) * mult;
                mult *= 128;
                if (!(b & 128)) break;
            }
            size_t n = i + rl;
            if (n > len - off) n = len - off;
            ws_frame(c, 2, buf + off, n);
            off += n;
        }
    }
    if (ws_send_out(c) < 0) return -1;
    return (ssize_t)len;   /* framed; what the socket did not take goes on EPOLLOUT (xp_flush) */
}

static void xp_events(client_t *c, uint32_t e) { (void)c; (void)e; }

static int xp_idle(const client_t *c) { return c->ws_ooff == c->ws_olen; }

static void xp_flush(client_t *c)
{
    if (c->ws_ooff < c->ws_olen && ws_send_out(c) == 0) c->writable = 0;
}
`

const OPTS = `        { "ws-path", required_argument, 0, 1201 }, { "ws-frames", required_argument, 0, 1202 },
`
const CASES = `        case 1201: ws_path = optarg; if (optarg[0] != '/' || strlen(optarg) > 200) usage(); break;
        case 1202:
            if (!strcmp(optarg, "write")) ws_per_write = 1;
            else if (strcmp(optarg, "packet")) usage();
            break;
`
const HELP = `        "  MQTT over WebSocket (RFC 6455, subprotocol mqtt): --ws-path PATH (default /mqtt);\\n"
        "  --ws-frames packet|write: one frame per MQTT packet (default) or per loadgen write.\\n"`

/** Builds (once per loadgen.c change) the WebSocket loadgen into `dir`; returns its path. */
export function wsLoadgenPath(src, dir, fail) {
  return buildVariant(src, dir, fail, {
    name: 'mqtt-loadgen-ws',
    what: 'WebSocket',
    self: new URL(import.meta.url).pathname,
    includes: '',
    fields: FIELDS,
    impl: IMPL,
    opts: OPTS,
    cases: CASES,
    help: HELP,
    libs: [],
  })
}
