/**
 * The card switch as a Purser app: `apps.cards` in a config file (see examples/purser.config.json), whose
 * module default-exports `start`. It advertises CARDS.ISSUE and CARDS.STATUS on the node's bus and listens
 * for ISO 8583 on 127.0.0.1:8583 (`settings.port`, `PURSER_CARDS_PORT`), all on the node's ledger and store.
 */
import type { AppContext, Bus, Ledger, RunningApp, Store } from 'purser';
import { Batcher, type BatcherStats } from './batcher.js';
import { CardDirectory } from './directory.js';
import { CardsListener, type ListenerStats } from './listener.js';
import { CardProcessor, type PublishApproval } from './processor.js';
import { issueService, statusService } from './services.js';
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
  /** Publishes an approval durably in the message's transaction (the outbox's `card.approved`). */
  publish?: PublishApproval;
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
  const processor = new CardProcessor(directory, settings, options.nowMs ?? Date.now, options.publish);
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
  return startCardsSwitch({ bus: context.bus, store: context.store, ledger: context.ledger, logger: context.logger, settings: context.settings });
}
