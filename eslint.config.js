// ESLint (flat config): TypeScript's recommended rules, plus the Worker's layering as import rules.
// Each zone reads "code under `target` may not import from `from`" (paths from the repository root).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const worker = (dir) => `./worker/${dir}`;

export default tseslint.config(
  { ignores: ['node_modules/', '.wrangler/', '.tmp/', 'dist/', 'out/', 'bench-results/', 'test-artifacts/', 'worker-configuration.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // `/// <reference path>` is how a module opts into the ambient `*.wasm` declaration (worker/wasm.d.ts).
      '@typescript-eslint/triple-slash-reference': ['error', { path: 'always', types: 'prefer-import', lib: 'always' }],
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            // generation/ is pure TypeScript: no Hono, no ORT, no Workers runtime, nothing else of the Worker.
            {
              target: worker('generation'),
              from: './worker',
              except: ['./generation'],
              message: 'generation/ imports nothing outside itself',
            },
            // kernels/ are the WASM kernels and their loaders: leaf code.
            { target: worker('kernels'), from: './worker', except: ['./kernels'], message: 'kernels/ imports nothing outside itself' },
            // model/ turns manifests and blobs into a CausalLM: it knows generation's contract and the kernels, nothing of HTTP.
            {
              target: worker('model'),
              from: './worker',
              except: ['./model', './generation', './kernels', './stage/protocol.ts', './stage/budget.ts'],
              message: 'model/ imports only generation/ (types), kernels/ and the stage protocol and budget (StagedCausalLM)',
            },
            // stage/ is a stage Worker (its own script): one part of a host-attention model in a Durable Object.
            {
              target: worker('stage'),
              from: './worker',
              except: ['./stage', './model', './kernels', './generation'],
              message: 'stage/ imports only model/, kernels/ and generation/',
            },
            // service/ is the application core between the dialects and the model.
            {
              target: worker('service'),
              from: './worker',
              except: ['./service', './model', './generation', './config.ts'],
              message: 'service/ imports only model/, generation/ and config.ts',
            },
            // http/ is transport: middleware, SSE, body limits, error mapping. It never sees the model.
            {
              target: worker('http'),
              from: './worker',
              except: ['./http', './service', './generation'],
              message: 'http/ imports only service/ (its errors) and generation/',
            },
            // dialects/ map wire formats onto the service: never the model or the kernels directly.
            {
              target: worker('dialects'),
              from: './worker',
              except: ['./dialects', './service', './http', './generation'],
              message: 'dialects/ import only service/, http/ and generation/',
            },
          ],
        },
      ],
    },
  },
  {
    // generation/ must not reach for runtime- or framework-specific packages either.
    files: ['worker/generation/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^(hono|onnxruntime-web|cloudflare:)', message: 'generation/ is runtime-agnostic' }] },
      ],
    },
  },
);
