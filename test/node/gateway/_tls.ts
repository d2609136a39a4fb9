// Test scaffolding for TLS to NATS: a throwaway certificate authority, a server certificate for 127.0.0.1 and
// localhost, and a client certificate, made with openssl into a temporary directory; a second, unrelated CA
// (the "wrong" one); and a nats-server configuration file that serves TLS with them (verify: client
// certificates required).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const opensslPath = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((path) => spawnSync(path, ['version']).status === 0);

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed none of the above. */
  otherCa: string;
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  const result = spawnSync(opensslPath!, args, { cwd: dir, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
}

/** A CA key and self-signed certificate, `name`.key and `name`.pem in `dir`. */
function makeCa(dir: string, name: string): void {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
}

/** A leaf certificate signed by `ca`, with the given extensions. */
function makeLeaf(dir: string, name: string, ca: string, extensions: string): void {
  openssl(dir, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`]);
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'purser-nats-tls-'));
  makeCa(dir, 'ca');
  makeCa(dir, 'other-ca');
  makeLeaf(dir, 'server', 'ca', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  makeLeaf(dir, 'client', 'ca', 'extendedKeyUsage=clientAuth\n');
  const at = (file: string) => join(dir, file);
  return {
    dir,
    ca: at('ca.pem'),
    serverCert: at('server.pem'),
    serverKey: at('server.key'),
    clientCert: at('client.pem'),
    clientKey: at('client.key'),
    otherCa: at('other-ca.pem'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Writes a nats-server configuration serving TLS with `pki`; `verify`: clients must show a certificate of its CA. */
export function natsTlsConfig(pki: TestPki, verify: boolean): string {
  const path = join(pki.dir, verify ? 'nats-mtls.conf' : 'nats-tls.conf');
  writeFileSync(path, [
    'tls {',
    `  cert_file: ${JSON.stringify(pki.serverCert)}`,
    `  key_file: ${JSON.stringify(pki.serverKey)}`,
    `  ca_file: ${JSON.stringify(pki.ca)}`,
    `  verify: ${verify}`,
    '  timeout: 5',
    '}',
    '',
  ].join('\n'));
  return path;
}
