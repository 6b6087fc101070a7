import { defineConfig } from 'vitest/config';

// unit: pure and host-only tests beside the code; integration: boots Debian-image guests; full: the
// KASAN image and the suites (built/cached by the tests). The guest tiers run one file at a time (2
// cores, TCG): vitest takes that only from the command line (--no-file-parallelism, package.json),
// not per project.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['src/**/*.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 600_000 } },
      { test: { name: 'full', include: ['test/full/**/*.test.ts'], testTimeout: 1_800_000, hookTimeout: 3_600_000 } },
    ],
  },
});
