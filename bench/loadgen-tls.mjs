// The shared loadgen turned into a TLS client at build time (OpenSSL, -lssl -lcrypto; Debian:
// libssl-dev), for bench/security.mjs. Same program, scenarios and accounting; only the transport
// differs. Without --tls it is the plain TCP loadgen (same code path but for one branch), so the
// TLS and TCP columns of a table come from one binary.
//
// How to run (normally bench/security.mjs builds and runs it):
//   node -e "import('./bench/loadgen-tls.mjs').then(m => console.log(m.tlsLoadgenPath('../shared/tools/loadgen/loadgen.c', '/tmp', e => { throw new Error(e) })))"
//   /tmp/mqtt-loadgen-tls --port 8883 --tls --cafile ca.pem --scenario one2one --qos 1 --count 10000
//   /tmp/mqtt-loadgen-tls --port 8883 --tls --scenario fanin --pubs 2000 --count 1 --conn-concurrency 50 --json
//     (connections per second = clients / connect_ms)
//
// Options added: --tls; --cafile FILE (verify the broker's certificate and its IP or --servername
// against it; without it, no verification: the bench always passes it); --tls-version 1.2|1.3
// (default 1.3: both ends pinned to it, the library's default ciphers); --servername NAME (SNI and
// the name checked); --conn-concurrency K (bench/loadgen-patch.mjs).
// Session resumption is off: no session cache, no ticket kept, so every connection is a full handshake.
//
// Non-blocking TLS over loadgen's edge-triggered epoll: SSL_connect is implied (SSL_set_connect_state;
// the first SSL_write/SSL_read drives the handshake); xp_read loops SSL_read until WANT_READ (so an
// edge is never lost inside OpenSSL's buffers; read-ahead on), xp_write loops SSL_write (partial
// writes and a moving buffer enabled) until WANT_WRITE. A read that wants to write (or the reverse)
// is remembered and retried on the other direction's epoll event.
import { existsSync } from 'node:fs'
import { buildVariant } from './loadgen-patch.mjs'

const INCLUDES =
  '#include <limits.h>\n#include <openssl/err.h>\n#include <openssl/ssl.h>\n#include <openssl/x509v3.h>\n'

const FIELDS =
  '    SSL *ssl;             /* --tls (bench/loadgen-tls.mjs) */\n    int tls_want;         /* 1: SSL_read wants to write; 2: SSL_write wants to read */\n'

const IMPL = `
/* ---------- transport (bench/loadgen-tls.mjs): TCP, or TLS with --tls ---------- */
static int tls_on;
static const char *tls_cafile;      /* NULL: no verification */
static const char *tls_servername;  /* SNI and the verified name; NULL: the IP of --host is verified */
static int tls_version = 13;
static SSL_CTX *tls_ctx;
static int tls_reported;

static void tls_die(const char *what, const char *arg)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    fprintf(stderr, "loadgen: %s%s: %s\\n", what, arg, buf);
    exit(2);
}

static void xp_init(void)
{
    if (!tls_on) return;
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx) tls_die("SSL_CTX_new", "");
    int v = tls_version == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
    if (!SSL_CTX_set_min_proto_version(tls_ctx, v) || !SSL_CTX_set_max_proto_version(tls_ctx, v))
        tls_die("TLS version", "");
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* every connection a full handshake: no session cache, no tickets asked for or kept */
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_read_ahead(tls_ctx, 1);
    if (tls_cafile) {
        if (SSL_CTX_load_verify_locations(tls_ctx, tls_cafile, NULL) != 1) tls_die("--cafile ", tls_cafile);
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    }
}

static void xp_start(client_t *c)
{
    c->tls_want = 0;
    if (!tls_on) return;
    c->ssl = SSL_new(tls_ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) tls_die("SSL_new", "");
    if (tls_servername) SSL_set_tlsext_host_name(c->ssl, tls_servername);
    if (tls_cafile) {
        if (tls_servername) SSL_set1_host(c->ssl, tls_servername);
        else X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), cfg.host);
    }
    SSL_set_connect_state(c->ssl);
}

static void xp_close(client_t *c)
{
    if (c->ssl) { SSL_free(c->ssl); c->ssl = NULL; }
}

/* an SSL error that ends the connection: the reason on stderr, errno for close_client */
static ssize_t tls_error(client_t *c, int e)
{
    unsigned long le = ERR_get_error();
    if (e == SSL_ERROR_SYSCALL && errno) return -1;       /* ECONNRESET and friends */
    if (e == SSL_ERROR_SYSCALL) return 0;                  /* EOF without close_notify */
    char buf[256] = "";
    if (le) ERR_error_string_n(le, buf, sizeof buf);
    long vr = SSL_get_verify_result(c->ssl);
    fprintf(stderr, "loadgen: %s: TLS error %d %s%s%s\\n", c->cid, e, buf,
            vr != X509_V_OK ? ": " : "", vr != X509_V_OK ? X509_verify_cert_error_string(vr) : "");
    ERR_clear_error();
    errno = EPROTO;
    return -1;
}

static ssize_t xp_read(client_t *c, uint8_t *buf, size_t len)
{
    if (!c->ssl) return read(c->fd, buf, len);
    size_t got = 0;
    c->tls_want &= ~1;
    while (got < len) {
        size_t ask = len - got > INT_MAX ? INT_MAX : len - got;
        int n = SSL_read(c->ssl, buf + got, (int)ask);
        if (n > 0) { got += (size_t)n; continue; }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ) break;
        if (e == SSL_ERROR_WANT_WRITE) { c->tls_want |= 1; break; }
        if (got) return (ssize_t)got;                      /* the end again on the next call */
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        return tls_error(c, e);
    }
    if (got) return (ssize_t)got;
    errno = EAGAIN;
    return -1;
}

static ssize_t xp_write(client_t *c, const uint8_t *buf, size_t len)
{
    if (!c->ssl) return send(c->fd, buf, len, MSG_NOSIGNAL);
    size_t put = 0;
    c->tls_want &= ~2;
    while (put < len) {
        size_t ask = len - put > INT_MAX ? INT_MAX : len - put;
        int n = SSL_write(c->ssl, buf + put, (int)ask);
        if (n > 0) { put += (size_t)n; continue; }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) break;
        if (e == SSL_ERROR_WANT_READ) { c->tls_want |= 2; break; }
        if (put) return (ssize_t)put;
        ssize_t r = tls_error(c, e);
        if (r == 0) errno = EPIPE;
        return -1;
    }
    if (put && !tls_reported) {
        tls_reported = 1;
        fprintf(stderr, "loadgen: %s %s%s\\n", SSL_get_version(c->ssl), SSL_get_cipher(c->ssl),
                SSL_session_reused(c->ssl) ? " (resumed)" : "");
    }
    if (put) return (ssize_t)put;
    errno = EAGAIN;
    return -1;
}

static void xp_events(client_t *c, uint32_t e)
{
    if ((e & EPOLLOUT) && (c->tls_want & 1)) c->readable = 1;
    if ((e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && (c->tls_want & 2)) c->writable = 1;
}

static void xp_flush(client_t *c) { (void)c; }
static int xp_idle(const client_t *c) { (void)c; return 1; }
`

const OPTS = `        { "tls", no_argument, 0, 1101 }, { "cafile", required_argument, 0, 1102 },
        { "tls-version", required_argument, 0, 1103 }, { "servername", required_argument, 0, 1104 },
`
const CASES = `        case 1101: tls_on = 1; break;
        case 1102: tls_cafile = optarg; break;
        case 1103:
            if (!strcmp(optarg, "1.2")) tls_version = 12;
            else if (!strcmp(optarg, "1.3")) tls_version = 13;
            else usage();
            break;
        case 1104: tls_servername = optarg; break;
`
const HELP = `        "  --tls: TLS (OpenSSL); --cafile FILE: verify the broker against it (default: no verification);\\n"
        "  --tls-version 1.2|1.3 (default 1.3); --servername NAME: SNI and the name verified (default: the IP).\\n"
        "  No session resumption: every connection is a full handshake.\\n"`

/** The OpenSSL headers this build needs; false, or why it cannot be built. */
export function tlsBuildMissing() {
  if (!existsSync('/usr/include/openssl/ssl.h'))
    return 'the OpenSSL headers are missing (/usr/include/openssl/ssl.h): apt-get install libssl-dev'
  return false
}

/** Builds (once per loadgen.c change) the TLS loadgen into `dir`; returns its path. */
export function tlsLoadgenPath(src, dir, fail) {
  const missing = tlsBuildMissing()
  if (missing) fail(`cannot build the TLS loadgen: ${missing}`)
  return buildVariant(src, dir, fail, {
    name: 'mqtt-loadgen-tls',
    what: 'TLS',
    self: new URL(import.meta.url).pathname,
    includes: INCLUDES,
    fields: FIELDS,
    impl: IMPL,
    opts: OPTS,
    cases: CASES,
    help: HELP,
    libs: ['-lssl', '-lcrypto'],
  })
}
