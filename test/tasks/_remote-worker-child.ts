// A remote worker process for tasks.remote.test.ts: connects to the node's bus at argv[2] and runs
// 'remote-job' tasks with leases of argv[3] ms. It prints "started <id> <attempt>" when a handler starts
// and "done <id> <attempt>" when it returns. A payload { hang: true } hangs on its first attempt (the test
// kills this process then); { fail: true } throws on its first attempt.
import { connect } from '../../src/client/client.js';
import { remoteTasks } from '../../src/tasks/remote-worker.js';

async function main(): Promise<void> {
  const [address, leaseText] = process.argv.slice(2);
  const client = await connect(address);
  const worker = remoteTasks(client, { leaseMs: Number(leaseText), logger: { error: () => {}, warn: () => {} } });
  worker.register('remote-job', async (job) => {
    const payload = job.payload as { hang?: boolean; fail?: boolean };
    process.stdout.write(`started ${String(job.id)} ${job.attempt}\n`);
    if (payload.hang && job.attempt === 1) await new Promise(() => {});
    if (payload.fail && job.attempt === 1) throw new Error('first attempt fails on purpose');
    process.stdout.write(`done ${String(job.id)} ${job.attempt}\n`);
  }, { concurrency: 4 });
  worker.start();
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
