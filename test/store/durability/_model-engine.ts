// A model engine for durability tests: EngineHooks over plain sorted maps, so recovery, checkpoints and
// faults can be tested on the simulated disk independently of the B+tree (the kill -9 test uses the real one).
import type { CommitRecord, Durability, EngineHooks, EngineSnapshot, ExtensionReplayer, SequenceState } from '../../../src/store/interfaces.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

export class ModelEngine implements EngineHooks {
  tables = new Map<string, Map<string, Uint8Array>>();
  sequences = new Map<string, bigint>();
  durability: Durability | undefined;
  private extensions = new Map<string, ExtensionReplayer>();

  setDurability(durability: Durability): void {
    this.durability = durability;
  }

  applyRecord(record: CommitRecord): void {
    for (const write of record.writes) {
      let table = this.tables.get(write.table);
      if (!table) this.tables.set(write.table, (table = new Map<string, Uint8Array>()));
      if (write.value === undefined) table.delete(hex(write.key));
      else table.set(hex(write.key), Uint8Array.from(write.value));
    }
    for (const extension of record.extensions) this.extensions.get(extension.kind)!(extension.payload, this);
  }

  registerExtension(kind: string, replay: ExtensionReplayer): void {
    this.extensions.set(kind, replay);
  }

  bulkLoad(name: string, records: Iterable<[Uint8Array, Uint8Array]>): void {
    const table = new Map<string, Uint8Array>();
    let previous = '';
    for (const [key, value] of records) {
      if (hex(key) <= previous) throw new Error('bulk load out of order');
      previous = hex(key);
      table.set(hex(key), Uint8Array.from(value));
    }
    this.tables.set(name, table);
  }

  sequenceStates(): SequenceState[] {
    return [...this.sequences].map(([name, highWater]) => ({ name, highWater }));
  }

  setSequenceState(state: SequenceState): void {
    this.sequences.set(state.name, state.highWater);
  }

  snapshot(): EngineSnapshot {
    const copy = new Map([...this.tables].map(([name, table]) => [name, [...table].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))]));
    return {
      sequences: this.sequenceStates(),
      tables: () => [...copy.keys()],
      *records(name: string) {
        for (const [key, value] of copy.get(name) ?? []) yield [Buffer.from(key, 'hex'), value] as [Uint8Array, Uint8Array];
      },
      release: () => undefined,
    };
  }

  checkInvariants(): void {}

  /** Applies and logs one commit, as the engine's commit step does; resolves when it is durable. */
  async commit(record: CommitRecord): Promise<void> {
    this.applyRecord(record);
    await this.durability!.logCommit(record);
  }

  /** Everything, as a comparable value. */
  state(): unknown {
    const tables = [...this.tables].filter(([, t]) => t.size > 0).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, t]) => [name, [...t].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${hex(v)}`)]);
    return { tables, sequences: [...this.sequences].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, h]) => `${n}=${String(h)}`) };
  }
}
