/**
 * TLS between the gateway and NATS, settled once at start: the CA, client certificate and key files are read
 * and parsed here, before anything is created or bound, so a missing, unreadable or garbage file is one
 * `ConfigError` naming the option and nothing starts. A certificate whose key does not belong to it is refused
 * the same way (the server would only say "bad certificate" later).
 *
 * TLS is required — never a fallback to plain text — as soon as a `tls://` URL or any of the files is given:
 * the NATS client then refuses a server that offers no TLS, and verifies the server's certificate (against the
 * CA file, or the system's CAs without one) and its name against the URL's host. Nothing here turns
 * verification off. The NATS client (`@nats-io/transport-node`) reads these as PEM strings in its `tls`
 * option, and our TLS failures come back from it as Node's TLS errors (see `isTlsFailure`).
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { natsServers, type NodeConfig } from '../config.js';

/** What the NATS client's `tls` option takes here: PEM text. An empty object: TLS with the system's CAs. */
export interface NatsTls {
  ca?: string;
  cert?: string;
  key?: string;
}

/** A PEM file of certificates or a key is a few KiB; anything past this is not one (or is a device, a log…). */
const PEM_FILE_BYTES_MAX = 1024 * 1024;
const CERTIFICATE_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

const FLAGS = { natsTlsCa: '--nats-tls-ca', natsTlsCert: '--nats-tls-cert', natsTlsKey: '--nats-tls-key' } as const;
type TlsKey = keyof typeof FLAGS;

/** Whether the gateway must speak TLS to NATS: a `tls://` URL or any TLS file. */
export function natsTlsRequired(config: NodeConfig): boolean {
  return natsServers(config.nats).some((url) => url.startsWith('tls://')) || config.natsTlsCa !== '' || config.natsTlsCert !== '' || config.natsTlsKey !== '';
}

/** Reads and checks the TLS files; undefined when TLS is not required. Throws `ConfigError` naming the option. */
export function loadNatsTls(config: NodeConfig): NatsTls | undefined {
  if (!natsTlsRequired(config)) return undefined;
  const tls: NatsTls = {};
  if (config.natsTlsCa !== '') {
    const pem = readPemFile('natsTlsCa', config.natsTlsCa);
    const blocks = pem.match(CERTIFICATE_BLOCK) ?? [];
    if (blocks.length === 0) throw invalid('natsTlsCa', config.natsTlsCa, 'no PEM certificate in it (-----BEGIN CERTIFICATE-----)');
    for (const block of blocks) parseCertificate('natsTlsCa', config.natsTlsCa, block);
    tls.ca = pem;
  }
  if (config.natsTlsCert !== '' || config.natsTlsKey !== '') {
    // validateConfig already refused one without the other; this guards programs that skip it.
    if (config.natsTlsCert === '' || config.natsTlsKey === '') throw new ConfigError('natsTlsCert (--nats-tls-cert) and natsTlsKey (--nats-tls-key) go together: give both or neither');
    const cert = readPemFile('natsTlsCert', config.natsTlsCert);
    const key = readPemFile('natsTlsKey', config.natsTlsKey);
    const first = cert.match(CERTIFICATE_BLOCK)?.[0];
    if (first === undefined) throw invalid('natsTlsCert', config.natsTlsCert, 'no PEM certificate in it (-----BEGIN CERTIFICATE-----)');
    const leaf = parseCertificate('natsTlsCert', config.natsTlsCert, first);
    const privateKey = parseKey(config.natsTlsKey, key);
    if (!leaf.checkPrivateKey(privateKey)) throw invalid('natsTlsKey', config.natsTlsKey, `it is not the key of the certificate in ${config.natsTlsCert}`);
    tls.cert = cert;
    tls.key = key;
  }
  return tls;
}

/**
 * Whether a failed connection attempt failed on TLS (as opposed to a server that is down or unreachable):
 * Node's certificate verification codes and OpenSSL alerts, or the NATS client finding no TLS on the server.
 * These do not go away by trying again soon, so the gateway reports them (`NODE_GATEWAY_TLS_FAILED`).
 */
export function isTlsFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && /CERT|SSL|TLS|UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO|HOSTNAME|ALTNAME/.test(code)) return true;
  return /\btls\b|certificate|\bssl\b/i.test(error.message);
}

/** One line for a TLS failure: OpenSSL's own text is several lines and source paths; an alert is explained. */
export function describeTlsFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const first = error.message.split('\n')[0].trim();
  const alert = /\balert ([a-z ]+?)(:|$)/.exec(first)?.[1];
  const text = alert === undefined ? first : `the server ended the handshake with the alert "${alert}" (it refused this node's certificate, or its lack of one)`;
  return typeof code === 'string' ? `${text} [${code}]` : text;
}

function invalid(key: TlsKey, path: string, why: string, cause?: unknown): ConfigError {
  return new ConfigError(`${key} (${FLAGS[key]}): ${path}: ${why}`, cause === undefined ? undefined : { cause });
}

function readPemFile(key: TlsKey, path: string): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw invalid(key, path, 'not a regular file');
    if (stat.size > PEM_FILE_BYTES_MAX) throw invalid(key, path, `${stat.size} bytes: more than a PEM file holds (at most ${PEM_FILE_BYTES_MAX})`);
    const bytes = Buffer.alloc(stat.size);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(fd, bytes, read, bytes.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return bytes.subarray(0, read).toString('utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw invalid(key, path, `cannot read it: ${(error as Error).message}`, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function parseCertificate(key: TlsKey, path: string, block: string): X509Certificate {
  try {
    return new X509Certificate(block);
  } catch (error) {
    throw invalid(key, path, `not a valid PEM certificate: ${(error as Error).message}`, error);
  }
}

function parseKey(path: string, pem: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw invalid('natsTlsKey', path, `not a valid unencrypted PEM private key: ${(error as Error).message}`, error);
  }
}
