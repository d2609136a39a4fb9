// The node's /metrics follows Prometheus conventions, checked on a real scrape after real traffic (HTTP, a
// bus call, ledger and store commits on a data directory): every family has HELP and TYPE, Purser's names
// start with purser_, units are base units (seconds, bytes) and come last, `_total` is on counters only;
// the process and Node.js families keep their stock names. The linter itself is tested on bad names, so
// a lint that passes means something.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { startNode } from 'purser';

const silent = pino({ level: 'silent' });

/** Stock families from prom-client's default metrics: their names are what dashboards expect, so they are exempt. */
const STOCK_PREFIXES = ['process_', 'nodejs_'];
/** Units that are not Prometheus base units, as a name segment. */
const NON_BASE_UNITS = ['ms', 'milliseconds', 'us', 'microseconds', 'ns', 'nanoseconds', 'minutes', 'hours', 'kb', 'kib', 'mb', 'mib', 'gb', 'gib', 'percent'];
const BASE_UNITS = ['seconds', 'bytes'];

/** Problems in a Prometheus text exposition, one line each; empty when it follows the conventions. */
function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const helps = new Set<string>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      helps.add(help[1]);
      if (help[2].trim() === '') problems.push(`${help[1]}: empty HELP`);
    }
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
  }
  for (const [name, type] of types) {
    if (!helps.has(name)) problems.push(`${name}: no HELP`);
    if (!/^[a-z][a-z0-9_]*$/.test(name)) problems.push(`${name}: not snake_case`);
    const stock = STOCK_PREFIXES.some((prefix) => name.startsWith(prefix));
    if (stock) continue;
    if (!name.startsWith('purser_')) problems.push(`${name}: does not start with purser_`);
    const segments = name.split('_');
    const bare = type === 'counter' ? segments.slice(0, -1) : segments;
    if (type === 'counter' && segments.at(-1) !== 'total') problems.push(`${name}: a counter must end in _total`);
    if (type !== 'counter' && segments.at(-1) === 'total') problems.push(`${name}: only counters end in _total (this is a ${type})`);
    for (const unit of NON_BASE_UNITS) if (segments.includes(unit)) problems.push(`${name}: unit ${unit} is not a base unit (use ${BASE_UNITS.join(' or ')})`);
    for (const unit of BASE_UNITS) {
      const at = bare.indexOf(unit);
      if (at !== -1 && at !== bare.length - 1) problems.push(`${name}: the unit ${unit} must come last`);
    }
    if (name.endsWith('_info') && type !== 'gauge') problems.push(`${name}: an _info metric is a gauge`);
  }
  return problems;
}

test('the linter finds each kind of bad name', () => {
  const bad = [
    '# HELP purser_x_ms a time', '# TYPE purser_x_ms gauge',
    '# HELP purser_y_bytes_since_start bytes', '# TYPE purser_y_bytes_since_start gauge',
    '# HELP purser_z_total a gauge named like a counter', '# TYPE purser_z_total gauge',
    '# HELP purser_calls calls', '# TYPE purser_calls counter',
    '# HELP other_thing something', '# TYPE other_thing gauge',
    '# TYPE purser_nohelp gauge',
  ].join('\n');
  const problems = lintExposition(bad);
  for (const expected of [/purser_x_ms: unit ms/, /purser_y_bytes_since_start: the unit bytes must come last/, /purser_z_total: only counters/, /purser_calls: a counter must end in _total/, /other_thing: does not start with purser_/, /purser_nohelp: no HELP/]) {
    assert.ok(problems.some((problem) => expected.test(problem)), `expected a problem matching ${expected}; got ${problems.join('; ')}`);
  }
  assert.deepEqual(lintExposition('# HELP purser_ok_seconds fine\n# TYPE purser_ok_seconds histogram\n'), []);
});

test('a node on a data directory, after traffic, exposes only conventional names and the families operators need', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'purser-metrics-'));
  const node = await startNode({ dir, httpPort: 0, logger: silent });
  try {
    node.bus.advertise('ECHO', (request) => request.data);
    assert.equal((await fetch(`${node.http.url}/health`)).status, 200);
    const call = await fetch(`${node.http.url}/v1/call/ECHO`, { method: 'POST', body: JSON.stringify({ data: { hello: 1 } }), headers: { 'content-type': 'application/json' } });
    assert.equal(call.status, 200);
    await node.store.transaction(async (tx) => tx.put('t', Buffer.from('k'), Buffer.from('v')));

    const response = await fetch(`${node.http.url}/metrics`);
    const text = await response.text();
    assert.deepEqual(lintExposition(text), []);
    for (const family of [
      'purser_build_info', 'purser_http_requests_total', 'purser_http_request_duration_seconds',
      'purser_store_log_batch_records', 'purser_store_log_write_duration_seconds', 'purser_store_log_fsync_duration_seconds',
      'purser_store_log_batch_oldest_wait_seconds', 'purser_store_log_since_checkpoint_bytes', 'purser_store_checkpoint_stall_max_seconds',
      'purser_ledger_up', 'purser_bus_calls_total',
      // stock names, unprefixed, so that stock dashboards work
      'process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), `${family} is missing`);
    }
    assert.match(text, new RegExp(`^purser_build_info\\{version="[^"]+",nodejs="${process.versions.node.replace(/\./g, '\\.')}"\\} 1$`, 'm'));
    // The commit above reached the disk in at least one group commit, and the /health request was timed.
    assert.match(text, /^purser_store_log_fsync_duration_seconds_count [1-9]\d*$/m);
    assert.match(text, /^purser_http_request_duration_seconds_count\{route="\/health"\} 1$/m);
  } finally {
    await node.close();
    await rm(dir, { recursive: true, force: true });
  }
});
