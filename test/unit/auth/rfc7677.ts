/** The RFC 7677 test vector and small drivers shared by the SCRAM unit tests. */
import assert from 'node:assert/strict'
import {
  ScramServerExchange,
  type ScramServerOptions,
  type ScramStep,
  type scramClient,
  scramCredentials,
} from '../../../src/auth/scram.js'
import { resolveServerOptions } from '../../../src/auth/scram-server.js'

// RFC 7677 section 3: user "user", password "pencil"
export const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
}

export const pencil = await scramCredentials('pencil', { salt: RFC.salt })
const users = new Map([['user', pencil]])

export function server(overrides: Partial<ScramServerOptions> = {}): ScramServerExchange {
  return new ScramServerExchange(
    resolveServerOptions({ lookup: (name) => users.get(name), nonce: () => RFC.serverNonce, ...overrides }),
  )
}

export function data(step: ScramStep, kind: 'challenge' | 'success'): Buffer {
  assert.equal(step.kind, kind, step.kind === 'failure' ? step.message : '')
  return (step as { data: Buffer }).data
}

export function failure(step: ScramStep): string {
  assert.equal(step.kind, 'failure')
  return (step as { reason: string }).reason
}

/** One whole exchange between a client and a server; the server's last step. */
export async function exchange(
  client: ReturnType<typeof scramClient>,
  srv = server(),
): Promise<{ final: ScramStep; clientFinal: Buffer }> {
  const challenge = data(await srv.clientFirst(client.start()), 'challenge')
  const clientFinal = await client.challenge(challenge)
  return { final: srv.clientFinal(clientFinal), clientFinal }
}

export const b = (s: string): Buffer => Buffer.from(s)
