// The shared loadgen (MQTT 3.1.1) turned into an MQTT 5 client at build time, for the v5 columns
// of bench/run.mjs: the same program, the same scenarios and accounting, only the protocol differs,
// so "Petrel at v5 against Petrel at 3.1.1" measures the broker, not a different load generator.
// The patches are textual, like the persistent-session variant's; each must match exactly once,
// so a changed loadgen.c fails loudly here instead of building a wrong client. What changes:
//   CONNECT level 5 with an empty property list; SUBSCRIBE and PUBLISH with an empty property
//   list; incoming PUBLISH and SUBACK skip their properties; CONNACK's Receive Maximum caps the
//   publisher's window (a v5 client must not exceed it [MQTT-3.3.4-7]). Acknowledgements stay
//   two bytes (reason code 0 and no properties may be left out [MQTT-3.4.2-1]).
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Skips a v5 property list at b[*o] (bounded by rl); returns the Receive Maximum in it, or 0. */
const PROPS_HELPER = `
/* MQTT 5 (bench/loadgen-v5.mjs): skip the property list at b + *o; 0 on a malformed one.
 * Gives the Receive Maximum (0x21) through *rmax when present. */
static int v5_skip_props(const uint8_t *b, size_t rl, size_t *o, int *rmax)
{
    size_t plen = 0, mult = 1;
    do {
        if (*o >= rl || mult > 128 * 128 * 128) return 0;
        plen += (size_t)(b[*o] & 127) * mult;
        mult *= 128;
    } while (b[(*o)++] & 128);
    size_t end = *o + plen;
    if (end > rl) return 0;
    while (*o < end) {
        uint8_t id = b[(*o)++];
        size_t n;
        switch (id) {
        case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A: n = 1; break;
        case 0x13: case 0x21: case 0x22: case 0x23: n = 2; break;
        case 0x02: case 0x11: case 0x18: case 0x27: n = 4; break;
        case 0x0B: while (*o < end && (b[*o] & 128)) (*o)++; n = 1; break;
        case 0x26:
            if (*o + 2 > end) return 0;
            *o += 2 + (((size_t)b[*o] << 8) | b[*o + 1]);
            /* fall through: the value string */
        case 0x03: case 0x08: case 0x09: case 0x12: case 0x15: case 0x16: case 0x1A: case 0x1C: case 0x1F:
            if (*o + 2 > end) return 0;
            n = 2 + (((size_t)b[*o] << 8) | b[*o + 1]);
            break;
        default: return 0;
        }
        if (id == 0x21 && rmax && *o + 2 <= end) *rmax = (b[*o] << 8) | b[*o + 1];
        *o += n;
        if (*o > end) return 0;
    }
    return 1;
}

static void handle_packet(`

const PATCHES = [
  // client state: the window this publisher may use
  [
    '    int inflight;\n',
    '    int inflight;\n    int window;           /* min(--inflight, the broker Receive Maximum) */\n',
  ],
  ['(cfg.qos == 0 || c->inflight < cfg.window);', '(cfg.qos == 0 || c->inflight < c->window);'],
  [
    'if (cfg.qos && n > (size_t)(cfg.window - c->inflight)) n = (size_t)(cfg.window - c->inflight);',
    'if (cfg.qos && n > (size_t)(c->window - c->inflight)) n = (size_t)(c->window - c->inflight);',
  ],
  // CONNECT
  ['    size_t rl = 10 + 2 + idl;', '    size_t rl = 11 + 2 + idl;'],
  [
    "    static const uint8_t vh[10] = { 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60 };\n    memcpy(p, vh, 10); p += 10;",
    "    static const uint8_t vh[11] = { 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0 };\n    memcpy(p, vh, 11); p += 11;",
  ],
  // SUBSCRIBE
  ['    size_t rl = 2 + 2 + fl + 1;', '    size_t rl = 2 + 1 + 2 + fl + 1;'],
  ['    *p++ = 0; *p++ = 1;\n', '    *p++ = 0; *p++ = 1;\n    *p++ = 0;\n'],
  // PUBLISH out: one byte of (empty) properties after the packet id
  [
    '    size_t rl = 2 + c->tpfx_len + (size_t)ndigits(k) + (cfg.qos ? 2 : 0) + (size_t)cfg.size;',
    '    size_t rl = 2 + c->tpfx_len + (size_t)ndigits(k) + (cfg.qos ? 2 : 0) + 1 + (size_t)cfg.size;',
  ],
  [
    '    size_t rl = 2 + tl + (cfg.qos ? 2 : 0) + (size_t)cfg.size;',
    '    size_t rl = 2 + tl + (cfg.qos ? 2 : 0) + 1 + (size_t)cfg.size;',
  ],
  ['    if (cfg.qos) { *p++ = 0; *p++ = 0; }\n', '    if (cfg.qos) { *p++ = 0; *p++ = 0; }\n    *p++ = 0;\n'],
  [
    '    const size_t rl0 = 2 + tpl + (cfg.qos ? 2 : 0) + sz;',
    '    const size_t rl0 = 2 + tpl + (cfg.qos ? 2 : 0) + 1 + sz;',
  ],
  [
    '            d += 2;\n        }\n        memcpy(d, pay, sz);',
    '            d += 2;\n        }\n        *d++ = 0;\n        memcpy(d, pay, sz);',
  ],
  // PUBLISH in: skip the properties before the payload
  [
    '        if (off > rl || q == 3) { proto_err++; return; }\n',
    '        if (off > rl || q == 3) { proto_err++; return; }\n        if (!v5_skip_props(b, rl, &off, NULL)) { proto_err++; return; }\n',
  ],
  // CONNACK: the window, capped by the broker's Receive Maximum
  [
    '        n_connected++;\n',
    '        n_connected++;\n        { size_t o = 2; int rmax = 0; v5_skip_props(b, rl, &o, &rmax);\n          c->window = rmax > 0 && rmax < cfg.window ? rmax : cfg.window; }\n',
  ],
  // SUBACK: the reason code after the properties
  [
    '        if (rl < 3 || b[2] == 0x80) { close_client(c, "SUBACK failure"); return; }',
    '        { size_t o = 2; if (rl < 3 || !v5_skip_props(b, rl, &o, NULL) || o >= rl) { close_client(c, "SUBACK failure"); return; }\n          b += o - 2; rl -= o - 2; }\n        if (b[2] >= 0x80) { close_client(c, "SUBACK failure"); return; }',
  ],
  ['static void handle_packet(', PROPS_HELPER],
]

/** Builds (once per loadgen.c change) the MQTT 5 loadgen into `dir`; returns its path. */
export function v5LoadgenPath(src, dir, fail) {
  const bin = join(dir, 'mqtt-loadgen-v5')
  const self = new URL(import.meta.url).pathname
  const stale = (p) => !existsSync(bin) || statSync(bin).mtimeMs < statSync(p).mtimeMs
  if (stale(src) || stale(self)) {
    let code = readFileSync(src, 'utf8')
    for (const [from, to] of PATCHES) {
      const n = code.split(from).length - 1
      if (n !== 1)
        fail(
          `loadgen.c changed: the MQTT 5 patch for ${JSON.stringify(from.slice(0, 60))} matches ${n} times`,
        )
      code = code.replace(from, to)
    }
    const patched = join(dir, 'mqtt-loadgen-v5.c')
    writeFileSync(patched, code)
    execFileSync('cc', ['-O2', '-Wall', '-o', bin, patched], { stdio: 'inherit' })
  }
  return bin
}
