import { defineConfig } from 'vitest/config';

// unit: pure tests beside the code, seconds in all; host: beside the code too, but they run the
// host's tools (gcc, make, git, xz, the agent binary), real files and timers, big streams and lock
// waits; integration: boots
// Debian-image guests; full: the
// KASAN image and the suites (built/cached by the tests). The guest tiers run one file at a time (2
// cores, TCG): vitest takes that only from the command line (--no-file-parallelism, package.json),
// not per project.
export default defineConfig({
  test: {
    projects: [
      // run with --no-isolate (package.json; vitest takes it only from the command line): pure tests
      // need no fresh module graph per file, and it makes the tier three times as quick
      { test: { name: 'unit', include: ['src/**/*.test.ts'], exclude: ['src/**/*.host.test.ts'], testTimeout: 10_000 } },
      { test: { name: 'host', include: ['src/**/*.host.test.ts'], testTimeout: 60_000 } },
      { test: { name: 'integration', include: ['test/integration/**/*.test.ts'], testTimeout: 300_000, hookTimeout: 600_000 } },
      { test: { name: 'full', include: ['test/full/**/*.test.ts'], testTimeout: 1_800_000, hookTimeout: 3_600_000 } },
    ],
  },
});
