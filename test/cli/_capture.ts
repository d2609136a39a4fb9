// Runs a CLI entry (main()) in this process and captures what it writes to stdout and stderr.
//
// Only strings are captured: the CLI writes strings, while the test runner, running this file in a child
// process, reports results to its parent as binary chunks on the same stdout. Swallowing those lost the
// results of tests that ended while another test was capturing (they were then neither passed nor failed).
type Write = typeof process.stdout.write;

export function capturing(original: Write, into: string[]): Write {
  return ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string') return into.push(chunk) > 0;
    return (original as (chunk: unknown, ...rest: unknown[]) => boolean)(chunk, ...rest);
  });
}

export async function captureStdout(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const writeOut = process.stdout.write.bind(process.stdout);
  const writeErr = process.stderr.write.bind(process.stderr);
  process.stdout.write = capturing(writeOut, out);
  process.stderr.write = capturing(writeErr, err);
  try {
    const code = await run();
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
}
