// ESLint flat config: typescript-eslint's recommended rules, no import cycles, no console in
// library code (the CLI entry points and tests may print).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/gen/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      'import-x/no-cycle': 'error',
      'no-console': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // The dashboard's static pages: plain browser scripts.
    files: ['dashboard/static/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { document: 'readonly', location: 'readonly', fetch: 'readonly', setTimeout: 'readonly', URLSearchParams: 'readonly' },
    },
  },
  {
    // npm start's wrapper and the suites' fixture processes: plain Node ESM.
    files: ['src/bin/npm-start.mjs', 'test/fixtures/*.mjs'],
    languageOptions: { sourceType: 'module', globals: { process: 'readonly', performance: 'readonly', URL: 'readonly', setTimeout: 'readonly' } },
  },
  {
    // The client's import chain (orchestrator/client) loads gRPC and the generated code only, so
    // a program that just calls an orchestrator carries no BullMQ, ioredis, dockerode, Express or
    // pino; types from elsewhere are fine (erased). test/package-entries.int.test.ts checks the built result.
    // The executor kinds' client side (their list and proto mapping) is part of that chain.
    files: ['src/client/**/*.ts', 'src/entry/client.ts', 'src/executors/client-executors.ts', 'src/executors/executor-kind.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!\\.|node:|@grpc/grpc-js$|@bufbuild/protobuf(/|$))',
              allowTypeImports: true,
              message: 'orchestrator/client may load only @grpc/grpc-js, @bufbuild/protobuf and node: builtins.',
            },
            {
              regex: '^\\.\\./(?!gen/|client/|version\\.js$|executors/(client-executors|executor-kind)\\.js$)',
              allowTypeImports: true,
              message:
                "orchestrator/client may load only src/client, src/gen, src/version.ts and the executor kinds' client side (the rest pulls in the server).",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: { 'no-console': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
