#!/usr/bin/env node
// The `purser` command. It runs the compiled CLI from dist/, which `npm install` builds (the `prepare` script).
import { existsSync } from 'node:fs';

const cli = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("purser: the compiled CLI is missing (dist/); run 'npm install' or 'npm run build' first\n");
  process.exit(1);
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
