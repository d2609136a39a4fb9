// Lint with typescript-eslint's type-aware rules. `no-floating-promises` and `no-misused-promises` are
// errors: an unawaited promise on a money path is a bug.
// bench/ imports its peers (lmdb, better-sqlite3, …) from its own package, installed by `npm run bench`, so
// it is linted by `npm run check:bench` (PURSER_LINT_BENCH=1) once they are there, not by `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const lintBench = process.env.PURSER_LINT_BENCH === '1';

export default tseslint.config(
  { ignores: ['dist/', '**/node_modules/', 'bench/results/', 'purser-data/', '**/*.d.ts', ...(lintBench ? [] : ['bench/'])] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs', 'bin/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', AbortSignal: 'readonly' } },
  },
);
