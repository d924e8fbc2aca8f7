/**
 * Test certificates, made fresh per run with Debian's `openssl` in a temporary directory
 * (nothing secret is committed):
 *
 *   const skip = opensslSkip()            // false, or why the suite is skipped
 *   const pki = await makePki()           // CA, server (localhost, 127.0.0.1, ::1), client 'alice'
 *   ... pki.files.ca, pki.ca (PEM text) ...
 *   await pki.remove()
 *
 * Also an untrusted CA with its own client certificate, a second server certificate
 * (for reload tests) and an expired client certificate. Locally a missing `openssl`
 * skips with the reason shown; under CI=true it fails (.ci/run installs it).
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { findBinary, inCI } from './mosquitto.js'

const run = promisify(execFile)

export function hasOpenssl(): boolean {
  return findBinary('openssl') !== null
}

/** False when openssl is there; otherwise the reason to skip (or, under CI, an error). */
export function opensslSkip(): string | false {
  if (hasOpenssl()) return false
  if (inCI()) throw new Error('openssl is not installed (CI=true): .ci/run installs it with apt-get')
  return 'openssl is not installed (apt-get install openssl)'
}

/** PEM file paths of one test PKI. */
export interface PkiFiles {
  dir: string
  ca: string
  caKey: string
  serverCert: string
  serverKey: string
  /** A second server certificate from the same CA (CN localhost-2), for reload tests. */
  server2Cert: string
  server2Key: string
  /** Client certificate, CN 'alice', from the trusted CA. */
  clientCert: string
  clientKey: string
  /** Client certificate, CN 'mallory', signed by a CA the server does not trust. */
  rogueCert: string
  rogueKey: string
  rogueCa: string
  /** Client certificate, CN 'old', from the trusted CA, expired. */
  expiredCert: string
  expiredKey: string
}

/** The same PKI as PEM text (Buffers), ready for tls options. */
export interface Pki {
  files: PkiFiles
  ca: Buffer
  serverCert: Buffer
  serverKey: Buffer
  server2Cert: Buffer
  server2Key: Buffer
  clientCert: Buffer
  clientKey: Buffer
  rogueCert: Buffer
  rogueKey: Buffer
  rogueCa: Buffer
  expiredCert: Buffer
  expiredKey: Buffer
  remove(): Promise<void>
}

async function openssl(dir: string, args: string[]): Promise<void> {
  await run(findBinary('openssl') ?? 'openssl', args, { cwd: dir })
}

/** A self-signed CA. */
async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.pem`,
    '-days',
    '2',
    '-subj',
    `/CN=Petrel Test ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ])
}

/** A key and a certificate signed by CA `ca`; `days` may be negative for an expired one. */
async function makeLeaf(
  dir: string,
  ca: string,
  name: string,
  cn: string,
  ext: string,
  days = 2,
): Promise<void> {
  await openssl(dir, [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    `/CN=${cn}`,
  ])
  await writeFile(join(dir, `${name}.ext`), ext)
  const validity =
    days > 0
      ? ['-days', String(days)]
      : // an expired certificate: valid from 3 days ago until yesterday (openssl 3: -not_before/-not_after)
        ['-not_before', stamp(-3), '-not_after', stamp(-1)]
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    ...validity,
    '-extfile',
    `${name}.ext`,
  ])
}

/** An openssl date (YYMMDDHHMMSSZ) `days` from now. */
function stamp(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
}

const SERVER_EXT = 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n'
const CLIENT_EXT = 'extendedKeyUsage=clientAuth\n'

/** Makes a fresh PKI in a temporary directory. */
export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'petrel-pki-'))
  await makeCa(dir, 'ca')
  await makeCa(dir, 'rogue-ca')
  await makeLeaf(dir, 'ca', 'server', 'localhost', SERVER_EXT)
  await makeLeaf(dir, 'ca', 'server2', 'localhost-2', SERVER_EXT)
  await makeLeaf(dir, 'ca', 'client', 'alice', CLIENT_EXT)
  await makeLeaf(dir, 'rogue-ca', 'rogue', 'mallory', CLIENT_EXT)
  let expired = true
  try {
    await makeLeaf(dir, 'ca', 'expired', 'old', CLIENT_EXT, -1)
  } catch {
    expired = false // an openssl without -not_before: the expired certificate is left out
  }
  const f = (name: string) => join(dir, name)
  const files: PkiFiles = {
    dir,
    ca: f('ca.pem'),
    caKey: f('ca.key'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    server2Cert: f('server2.pem'),
    server2Key: f('server2.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    rogueCert: f('rogue.pem'),
    rogueKey: f('rogue.key'),
    rogueCa: f('rogue-ca.pem'),
    expiredCert: expired ? f('expired.pem') : '',
    expiredKey: expired ? f('expired.key') : '',
  }
  const read = (p: string) => (p === '' ? Buffer.alloc(0) : readFile(p))
  const [
    ca,
    serverCert,
    serverKey,
    server2Cert,
    server2Key,
    clientCert,
    clientKey,
    rogueCert,
    rogueKey,
    rogueCa,
  ] = await Promise.all(
    [
      files.ca,
      files.serverCert,
      files.serverKey,
      files.server2Cert,
      files.server2Key,
      files.clientCert,
      files.clientKey,
      files.rogueCert,
      files.rogueKey,
      files.rogueCa,
    ].map(read),
  )
  return {
    files,
    ca: ca!,
    serverCert: serverCert!,
    serverKey: serverKey!,
    server2Cert: server2Cert!,
    server2Key: server2Key!,
    clientCert: clientCert!,
    clientKey: clientKey!,
    rogueCert: rogueCert!,
    rogueKey: rogueKey!,
    rogueCa: rogueCa!,
    expiredCert: await read(files.expiredCert),
    expiredKey: await read(files.expiredKey),
    remove: () => rm(dir, { recursive: true, force: true }),
  }
}
