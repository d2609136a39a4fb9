/**
 * The card switch as a Purser app: `apps.cards` in a config file (see examples/purser.config.json), whose
 * module default-exports `start`. It advertises CARDS.ISSUE and CARDS.STATUS on the node's bus and listens
 * for ISO 8583 on 127.0.0.1:8583 (`settings.port`, `PURSER_CARDS_PORT`), all on the node's ledger and store.
 */
import type { AppContext, Bus, Job, Ledger, RunningApp, Store, Tasks } from 'purser';
import { Batcher, type BatcherStats } from './batcher.js';
import { CardDirectory } from './directory.js';
import { CardsListener, type ListenerStats } from './listener.js';
import { CardProcessor, type PublishApproval } from './processor.js';
import { issueService, statusService } from './services.js';
import { u128Key } from './records.js';
import { parseSettings, type CardsSettings } from './settings.js';

export interface CardsSwitchOptions {
  bus: Bus;
  store: Store;
  ledger: Ledger;
  logger: AppContext['logger'];
  settings: Record<string, unknown>;
  /** Where `PURSER_CARDS_PORT` is read from. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Wall-clock milliseconds for card expiry dates. Default `Date.now`. */
  nowMs?: () => number;
  /**
   * The node's task outbox: every approval publishes a `card.approved` event in the message's own
   * transaction, and (unless `settings.approvalNotices` is false) the switch subscribes its own
   * `cards.approval-notice` task, which records one notice per approval exactly once (`cards.notice`).
   */
  tasks?: Tasks;
}

export const APPROVED_TOPIC = 'card.approved';
export const NOTICE_TASK = 'cards.approval-notice';
export const TABLE_NOTICES = 'cards.notice';

/** The `card.approved` event's payload (structured-clone data; the PAN masked). */
export interface ApprovedEvent {
  cardId: bigint;
  pan: string;
  transferId: bigint;
  amount: bigint;
  currency: number;
  approvalCode: string;
  responseCode: string;
  terminal: string;
  merchant: string;
  stan: string;
  rrn: string;
}

function outbox(tasks: Tasks, notices: boolean): PublishApproval {
  if (notices) {
    // A stand-in for telling the customer (a push message, an SMS): the notice is written in the same
    // store transaction that completes the task, so each approval gets exactly one, whatever crashes.
    tasks.register(NOTICE_TASK, (job: Job<ApprovedEvent>) => job.transaction(async (tx) => {
      const { transferId, amount, currency, pan } = job.payload;
      await tx.put(TABLE_NOTICES, u128Key(transferId), Buffer.from(`${pan} ${amount} ${currency}`, 'latin1'));
    }), { concurrency: 4 });
    tasks.subscribe(APPROVED_TOPIC, NOTICE_TASK);
  }
  return async (batch, approval) => {
    const event: ApprovedEvent = { ...approval, pan: `${approval.pan.slice(0, 6)}…${approval.pan.slice(-4)}` };
    await tasks.publish(batch.tx, APPROVED_TOPIC, event);
  };
}

export interface CardsSwitch extends RunningApp {
  readonly settings: CardsSettings;
  /** Where the ISO 8583 listener is bound. */
  readonly address: { host: string; port: number };
  stats(): { listener: ListenerStats; batcher: BatcherStats };
}

export const SERVICES = ['CARDS.ISSUE', 'CARDS.STATUS'] as const;

export async function startCardsSwitch(options: CardsSwitchOptions): Promise<CardsSwitch> {
  const settings = parseSettings(options.settings, options.env);
  const directory = new CardDirectory(settings.issuers, options.store.sequence('cards.ids', { spread: true }));
  const batcher = new Batcher(options.ledger, settings.batchMessagesMax, settings.queueMessagesMax);
  const publish = options.tasks === undefined ? undefined : outbox(options.tasks, settings.approvalNotices);
  const processor = new CardProcessor(directory, settings, options.nowMs ?? Date.now, publish);
  options.bus.advertise('CARDS.ISSUE', issueService(batcher, directory), { servers: 64 });
  options.bus.advertise('CARDS.STATUS', statusService(batcher, directory), { servers: 16 });
  const listener = new CardsListener(settings, batcher, processor, options.logger);
  try {
    await listener.listen();
  } catch (error) {
    for (const service of SERVICES) await options.bus.unadvertise(service);
    throw error;
  }
  options.logger.info({ iso8583: `${listener.address.host}:${listener.address.port}`, services: SERVICES }, 'cards switch started');
  return {
    settings,
    address: listener.address,
    stats: () => ({ listener: listener.stats(), batcher: batcher.stats() }),
    async close() {
      await listener.close();
      for (const service of SERVICES) await options.bus.unadvertise(service);
      await batcher.idle();
    },
  };
}

/** The app module's entry point, as a config file's `apps.cards.module` names it. */
export default function start(context: AppContext): Promise<CardsSwitch> {
  return startCardsSwitch({ bus: context.bus, store: context.store, ledger: context.ledger, tasks: context.tasks, logger: context.logger, settings: context.settings });
}
