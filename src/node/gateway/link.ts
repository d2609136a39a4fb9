/**
 * The gateway's first connection to NATS. The client's own `waitOnFirstConnect` would retry forever without
 * saying why, so a node whose TLS handshake fails would look like one waiting for a server that is down. This
 * loop makes one attempt at a time, hands every failure to the gateway, which tells a TLS failure from an
 * unreachable server and says how long to wait, and tries again until both connections are up or the gateway
 * closes. After that the client reconnects on its own.
 *
 * Each attempt starts with a probe: one connection with the client's reconnects off, closed at once. It is
 * there for the error: a connection with reconnects on that the server drops after the TLS handshake (a
 * server that verifies clients refuses a missing certificate only then, under TLS 1.3) does not fail; its
 * client starts reconnecting inside its first connect and gives up only at its 20 s timeout, with a timeout
 * error that says nothing of TLS. With reconnects off the same drop fails the probe at once, with the alert.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { isTlsFailure, type NatsTls } from './tls.js';

/** Until the first connection: a server down or unreachable is tried again this often (as the client reconnects)… */
export const RETRY_MS = 250;
/** …and one that failed the TLS handshake this often (the error is reported; trying harder would not help). */
export const REFUSED_RETRY_MS = 2000;

export interface LinkOptions {
  servers: string[];
  token: string | undefined;
  /** Required TLS (never a fallback to plain text); undefined: plain, unless the server requires TLS. */
  tls: NatsTls | undefined;
}

/**
 * Resolves with the calls and control connections, or undefined once `signal` aborts (any connection made
 * meanwhile is closed). `failed` gets the error of each failed attempt (a TLS failure first, if either
 * connection had one) and returns the milliseconds to wait before the next.
 */
export async function connectBoth(options: LinkOptions, node: string, signal: AbortSignal, failed: (error: unknown) => number): Promise<[NatsConnection, NatsConnection] | undefined> {
  const common: ConnectionOptions = {
    servers: options.servers, token: options.token, tls: options.tls,
    reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: RETRY_MS, waitOnFirstConnect: false, pingInterval: 10_000,
  };
  while (!signal.aborted) {
    try {
      const probe = await connect({ ...common, reconnect: false, name: `purser-${node}-probe` });
      await probe.close();
    } catch (error) {
      if (signal.aborted) break;
      await sleep(failed(error), undefined, { signal }).catch(() => undefined);
      continue;
    }
    const attempts = await Promise.allSettled([
      connect({ ...common, name: `purser-${node}-calls` }),
      connect({ ...common, name: `purser-${node}-control`, noEcho: true }),
    ]);
    const [data, control] = attempts;
    if (data.status === 'fulfilled' && control.status === 'fulfilled' && !signal.aborted) return [data.value, control.value];
    for (const attempt of attempts) if (attempt.status === 'fulfilled') await attempt.value.close().catch(() => undefined);
    if (signal.aborted) break;
    const errors = attempts.flatMap((attempt) => (attempt.status === 'rejected' ? [attempt.reason as unknown] : []));
    const waitMs = failed(errors.find(isTlsFailure) ?? errors[0]);
    await sleep(waitMs, undefined, { signal }).catch(() => undefined);
  }
  return undefined;
}
