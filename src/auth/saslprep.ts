import { ScramError, ScramErrorCode } from './errors.js'

/*
 * SASLprep (RFC 4013), the stringprep profile SCRAM applies to user names and passwords
 * (RFC 5802 section 2.2), as far as JavaScript's Unicode support carries it:
 * - mapping (RFC 4013 2.1): non-ASCII spaces (RFC 3454 C.1.2) become U+0020, the
 *   "commonly mapped to nothing" characters (B.1) are removed;
 * - normalization (2.2): NFKC;
 * - prohibited output (2.3): controls, private use, non-characters, surrogates,
 *   characters inappropriate for plain text or canonical representation, change-display
 *   and tagging characters (C.2.1 to C.9);
 * - unassigned code points (2.5): refused in stored strings (credentials), allowed in
 *   queries, judged by Node's Unicode version rather than Unicode 3.2 as RFC 3454 has it.
 * Known limitation: the bidirectional rule (RFC 3454 section 6) is not checked, as
 * JavaScript regular expressions do not expose the Bidi_Class property.
 * ASCII strings without controls come out unchanged, which is what both ends see in
 * nearly every deployment.
 */

// C.1.2 non-ASCII space characters
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g
// B.1 commonly mapped to nothing (U+200B is a space above, as C.1.2 is applied first)
const MAPPED_TO_NOTHING = /\u00AD|\u034F|\u1806|[\u180B-\u180D]|\u200C|\u200D|\u2060|[\uFE00-\uFE0F]|\uFEFF/g
const PROHIBITED = new RegExp(
  [
    '[\\u0000-\\u001F\\u007F]', // C.2.1 ASCII controls
    '[\\u0080-\\u009F\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F\\uFEFF\\uFFF9-\\uFFFC\\u{1D173}-\\u{1D17A}]', // C.2.2
    '[\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}]', // C.3 private use
    '[\\uFDD0-\\uFDEF]|\\p{Noncharacter_Code_Point}', // C.4 non-characters
    '\\p{Cs}', // C.5 surrogate code points (a lone surrogate in a JavaScript string)
    '[\\uFFF9-\\uFFFD]', // C.6 inappropriate for plain text
    '[\\u2FF0-\\u2FFB]', // C.7 inappropriate for canonical representation
    '[\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E\\u206A-\\u206F]', // C.8 change display properties
    '[\\u{E0001}\\u{E0020}-\\u{E007F}]', // C.9 tagging characters
  ].join('|'),
  'u',
)
const UNASSIGNED = /\p{Cn}/u
const PLAIN_ASCII = /^[\x20-\x7E]*$/

/**
 * `s` prepared with SASLprep; throws ScramError(SASLPREP) if it holds a prohibited
 * character, or an unassigned one when `stored` (RFC 3454 section 7: stored strings).
 */
export function saslprep(s: string, stored = false): string {
  if (PLAIN_ASCII.test(s)) return s
  const out = s.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC')
  const bad = PROHIBITED.exec(out) ?? (stored ? UNASSIGNED.exec(out) : null)
  if (bad !== null) {
    const cp = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')
    throw new ScramError(ScramErrorCode.SASLPREP, `SASLprep (RFC 4013) prohibits U+${cp}`)
  }
  return out
}
