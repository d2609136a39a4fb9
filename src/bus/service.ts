/**
 * A service: a name, one bounded request queue (Tuxedo MSSQ: shared by all its servers), the requests
 * waiting for a slot when that queue is full, and its servers. The request life cycle (lifecycle.ts)
 * moves requests between these; this module only holds the state and answers "which server has room?".
 */
import { LinkedQueue } from '../util/list.js';
import type { BusRequest } from './request.js';

export interface Server {
  readonly id: string;
  readonly service: Service;
  /** Requests handed to this server and not yet finished (in-process: 0 or 1). */
  inflight: number;
  /** Most requests it may hold at once: 1 in-process; the pipeline depth for a worker thread. */
  readonly capacity: number;
  done: number;
  restarts: number;
  state: 'running' | 'restarting' | 'dead';
  /** Set by a graceful stop: finish what it holds, take nothing new, then leave. */
  retiring: boolean;
  /** Called by the bus when `inflight` drops to 0 (a graceful stop waits on it). */
  onIdle?: () => void;
  /** The requests it holds now, for an operator's list and cancel (never on a call's path). */
  running(): Iterable<BusRequest>;
  /** Starts (or, for a worker, sends) the request. The bus has already counted it in `inflight`. */
  begin(request: BusRequest): void;
  /** Ends the server after its in-flight work (in-process: nothing to do; worker: terminate the thread). */
  stop(): Promise<void>;
}

export class Service {
  readonly name: string;
  readonly queueDepth: number;
  readonly kind: 'in-process' | 'threads';
  /** Set for a gateway's proxy: the nodes serving it (see AdvertiseOptions.remoteNodes). */
  remoteNodes: (() => readonly string[]) | undefined = undefined;
  readonly servers: Server[] = [];
  readonly queue = new LinkedQueue<BusRequest>();
  readonly waiting = new LinkedQueue<BusRequest>();
  /** Suspended by an operator: new calls get TPENOENT; queued and running requests finish. */
  suspended = false;
  /** Servers holding at least one request. */
  busy = 0;
  done = 0;
  /** Ended in an error, including runs that outlived their deadline (their caller got TPETIME). */
  failed = 0;
  /** Of `failed`: runs that were still going when their caller was answered TPETIME. */
  timedOut = 0;
  expiredInQueue = 0;
  /** Sum of queue lengths seen by arriving requests, and their number: the average a new request meets. */
  queuedSeenSum = 0;
  arrivals = 0;
  withdrawn = false;
  /** Re-entrancy guard for the bus's pump (a synchronous handler finishes inside the pump). */
  pumping = false;
  private cursor = 0;
  /** Makes server number `ordinal` (1-based) of this service; set by advertise. */
  createServer: (ordinal: number) => Server = () => {
    throw new Error('service has no server factory');
  };
  private ordinals = 0;

  addServer(): void {
    this.ordinals += 1;
    this.servers.push(this.createServer(this.ordinals));
  }

  removeServer(server: Server): void {
    const index = this.servers.indexOf(server);
    if (index !== -1) this.servers.splice(index, 1);
    if (this.cursor >= this.servers.length) this.cursor = 0;
  }

  constructor(name: string, queueDepth: number, kind: 'in-process' | 'threads') {
    this.name = name;
    this.queueDepth = queueDepth;
    this.kind = kind;
  }

  /** A server with room, round-robin from where the last search ended so load spreads evenly. */
  serverWithRoom(): Server | undefined {
    const servers = this.servers;
    const count = servers.length;
    for (let step = 0; step < count; step++) {
      const index = (this.cursor + step) % count;
      const server = servers[index];
      if (server.state === 'running' && !server.retiring && server.inflight < server.capacity) {
        this.cursor = index + 1 === count ? 0 : index + 1;
        return server;
      }
    }
    return undefined;
  }

  /** True when no server can ever take work again (all dead or retired). */
  hasNoServers(): boolean {
    return this.servers.every((server) => server.state === 'dead' || server.retiring);
  }
}
