import { defineConfig } from 'vitest/config';

// Projects: `unit` runs pure logic and scripts in Node; the Worker's runtime tests (workerd) and the
// browser tests are added as their own projects next to it.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
        },
      },
    ],
  },
});
