// The documentation runs: every code block in README.md and docs/*.md is either a verbatim copy of a file
// under examples/ that a test runs, a shell line whose command exists (npm scripts, purser commands, files),
// or declared `text`; and every relative link points at a file that exists. So a doc cannot drift from the
// code without a test failing.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../src/cli/main.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    if (name === 'node_modules') return [];
    return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

interface Block { doc: string; line: number; lang: string; text: string }

function codeBlocks(doc: string): Block[] {
  const blocks: Block[] = [];
  const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)$/.exec(lines[i]);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `${doc}:${i + 1}: a code block that never closes`);
    blocks.push({ doc, line: i + 1, lang: open[1], text: lines.slice(i + 1, end).join('\n') + '\n' });
    i = end;
  }
  return blocks;
}

const examples = new Map(filesUnder('examples').map((path) => [readFileSync(join(ROOT, path), 'utf8'), path]));
const testSources = filesUnder('test').filter((path) => path.endsWith('.ts')).map((path) => readFileSync(join(ROOT, path), 'utf8')).join('\n');
const scripts = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts);

/** Why a shell line would not run here, or undefined when it would. */
function shellProblem(line: string): string | undefined {
  const words = line.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return undefined;
  const [program, first, second] = words;
  if (program === 'npm') {
    if (first === 'install' || first === 'start' || first === 'test') return undefined;
    if (first === 'run' && scripts.includes(second)) return undefined;
    return `npm ${first} ${second ?? ''}: no such npm command or script`;
  }
  if (program === 'npx' && first === 'purser') return second in COMMANDS || second === '--help' ? undefined : `purser ${second}: no such command`;
  if (program === 'node') return existsSync(join(ROOT, first)) ? undefined : `node ${first}: no such file`;
  return `${program}: not a command these docs may show in a sh block (use text for output)`;
}

/** What is wrong with one code block, one line per problem; empty when it is fine. */
function blockProblems(block: Block): string[] {
  const problems: string[] = [];
  const where = `${block.doc}:${block.line}`;
  if (block.lang === 'js' || block.lang === 'json' || block.lang === 'ts') {
    const example = examples.get(block.text);
    if (!example) problems.push(`${where}: a ${block.lang} block that is not a verbatim copy of a file under examples/`);
    else if (!testSources.includes(example)) problems.push(`${where}: ${example} is run by no test (no test names it)`);
  } else if (block.lang === 'sh') {
    for (const line of block.text.split('\n')) {
      const problem = shellProblem(line);
      if (problem) problems.push(`${where}: ${problem}`);
    }
  } else if (block.lang !== 'text') {
    problems.push(`${where}: a block must say its language (js, json, sh or text), not "${block.lang}"`);
  }
  return problems;
}

test('every code block is an example a test runs, a shell line that exists, or text', () => {
  assert.deepEqual(DOCS.flatMap(codeBlocks).flatMap(blockProblems), []);
});

test('the checks above can fail: a made-up block and shell line are caught', () => {
  // The same check the docs go through, on blocks that must not pass it.
  const made = (lang: string, text: string): Block => ({ doc: 'made-up.md', line: 1, lang, text });
  assert.match(blockProblems(made('js', 'console.log("not an example")\n')).join('\n'), /not a verbatim copy of a file under examples\//);
  assert.match(blockProblems(made('sh', 'curl http://example.com\n')).join('\n'), /curl: not a command/);
  assert.match(blockProblems(made('', 'no language\n')).join('\n'), /must say its language/);
  assert.deepEqual(blockProblems(made('text', 'anything at all\n')), []);
  assert.match(shellProblem('npx purser frobnicate') ?? '', /no such command/);
  assert.match(shellProblem('npm run no-such-script') ?? '', /no such npm command/);
  assert.match(shellProblem('rm -rf /') ?? '', /not a command/);
  assert.equal(shellProblem('npm start -- --tb-address 127.0.0.1:3000     # or PURSER_TB_ADDRESS=3000'), undefined);
});

test('every relative link in the docs points at a file that exists', () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1];
      if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
      const path = join(ROOT, dirname(doc), target.split('#')[0]);
      if (!existsSync(path)) broken.push(`${doc}: ${target} (${relative(ROOT, path)})`);
    }
  }
  assert.deepEqual(broken, []);
});
