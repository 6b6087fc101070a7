import { defineConfig } from 'vitest/config';

// unit: pure and host-only tests beside the code; integration: boots Debian-image guests (one file
// at a time: 2 cores and TCG); full: the KASAN image and the suites (built/cached by the tests).
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts'], testTimeout: 60_000 } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'full',
          include: ['test/full/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 1_800_000,
          hookTimeout: 3_600_000,
        },
      },
    ],
  },
});
