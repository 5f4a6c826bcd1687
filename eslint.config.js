// Lint: TypeScript rules plus the layering rule of STYLE.md (imports flow one way).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layers a folder under src/ may not import from. */
const forbidden = {
  'src/http/**/*.ts': ['sip', 'ims', 'hss', 'xdms', 'portal', 'charging', 'storage', 'config', 'observability', 'cli'],
  'src/sip/**/*.ts': ['ims', 'hss', 'xdms', 'portal', 'charging', 'storage', 'config', 'observability', 'cli'],
  'src/ims/**/*.ts': ['cli', 'storage/memory', 'storage/sqlite', 'storage/redis', 'storage/postgres'],
  'src/storage/**/*.ts': ['sip', 'ims', 'hss', 'xdms', 'portal', 'charging', 'config', 'cli'],
  'src/hss/**/*.ts': ['cli', 'xdms', 'portal', 'storage/memory', 'storage/sqlite', 'storage/redis', 'storage/postgres'],
  'src/portal/**/*.ts': ['cli', 'ims', 'storage/memory', 'storage/sqlite', 'storage/redis', 'storage/postgres'],
  'src/xdms/**/*.ts': ['cli', 'ims', 'hss', 'portal', 'storage/memory', 'storage/sqlite', 'storage/redis', 'storage/postgres'],
};

const layerRules = Object.entries(forbidden).map(([files, layers]) => ({
  files: [files],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: layers.map((layer) => ({
          regex: `^(\\.\\./)+(src/)?${layer.replace('/', '\\/')}(/|$)`,
          message: `this layer must not import from src/${layer} (see STYLE.md: imports flow one way)`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', '.tmp/**', 'data/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-control-regex': 'off',
    },
  },
  ...layerRules,
);
