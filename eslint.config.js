import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.sandbox/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed deterministically in a sandbox: only @temporalio/workflow and
    // type-only imports of activities; no Node built-ins, no zod, no I/O libraries.
    files: ['src/workflows/**/*.ts', 'test/fixtures/workflows.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*', 'fs', 'path', 'crypto', 'os', 'child_process', 'http', 'https', 'net'],
              message: 'No Node built-ins in workflow code.',
            },
            {
              group: [
                'zod',
                'undici',
                'pino',
                'hash-wasm',
                '@temporalio/client',
                '@temporalio/worker',
                '@temporalio/activity',
              ],
              message: 'Workflow code imports only @temporalio/workflow.',
            },
            {
              group: ['../*', '../**'],
              allowTypeImports: true,
              message: 'Workflow code imports other project modules (activities, shared, storage) as types only.',
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports' }],
    },
  },
  { files: ['bin/*.js'], languageOptions: { globals: { console: 'readonly', process: 'readonly' } } },
);
