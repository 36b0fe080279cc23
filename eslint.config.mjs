import nx from '@nx/eslint-plugin';

/** Layering (STYLE §1.2): services → io/domain/contracts; pure libs → domain/contracts + zod only. */
const layers = (extra = []) => ({
  enforceBuildableLibDependency: false,
  allow: [],
  depConstraints: [
    { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:io', 'type:domain', 'type:contracts', ...extra] },
    { sourceTag: 'type:io', onlyDependOnLibsWithTags: ['type:io', 'type:domain', 'type:contracts', ...extra] },
    {
      sourceTag: 'type:domain',
      onlyDependOnLibsWithTags: ['type:domain', 'type:contracts', ...extra],
      allowedExternalImports: ['zod', 'highs', ...(extra.length ? ['fast-check'] : [])],
    },
    {
      sourceTag: 'type:contracts',
      onlyDependOnLibsWithTags: ['type:contracts', ...extra],
      allowedExternalImports: ['zod', ...(extra.length ? ['fast-check'] : [])],
    },
    { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:io', 'type:domain', 'type:contracts', 'type:testing'] },
  ],
});

/** Pure libs (STYLE §1.4): no I/O modules, no process/timers, no wall clock, no randomness. */
export const PURE = [
  'libs/contracts/**/*.ts',
  'libs/devices/**/*.ts',
  'libs/strategies/**/*.ts',
  'libs/safety/**/*.ts',
  'libs/sim/**/*.ts',
];
const purity = {
  files: PURE,
  ignores: ['**/*.spec.ts', '**/testing.ts'],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            // gitignore-style: a leading '/' anchors a name to the module itself ('http', 'mqtt/…'), so that
            // libs/devices' own folders lib/http and lib/mqtt (JSON device profiles, pure) stay importable.
            group: [
              'node:*', 'fs', 'fs/*', 'path', 'os', 'net', '/http', '/https', '/http2', 'dgram', 'dns', 'tls',
              'child_process', 'worker_threads', 'cluster', 'process', 'timers', 'timers/*', 'crypto',
              '@nats-io/*', 'modbus-serial', 'serialport', 'pino', 'ioredis', '/mqtt', 'fastify',
              '@azure/*', 'testcontainers', 'ocpp-rpc', '@opentelemetry/*',
            ],
            message: 'Pure libs do no I/O: take data in, return data out.',
          },
        ],
      },
    ],
    'no-restricted-globals': ['error', 'process', 'fetch', 'setTimeout', 'setInterval', 'setImmediate', 'require'],
    'no-restricted-properties': [
      'error',
      { object: 'Date', property: 'now', message: 'Use the clock argument.' },
      { object: 'Math', property: 'random', message: 'Pass randomness in if ever needed.' },
      { object: 'performance', property: 'now', message: 'Use the clock argument.' },
    ],
    'no-restricted-syntax': [
      'error',
      { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'Use the clock argument.' },
      { selector: "CallExpression[callee.name='Date'][arguments.length=0]", message: 'Use the clock argument.' },
      { selector: "MemberExpression[object.name='console']", message: 'Pure libs never log.' },
    ],
  },
};

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/dist-ui/**', '**/tmp/**', '**/coverage/**', '.nx/**', '**/__fixtures__/**'] },
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', layers()],
      'no-console': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-non-null-assertion': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.spec.ts', '**/testing.ts', '**/src/testing/**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': ['error', layers(['type:testing'])],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  purity,
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
];
