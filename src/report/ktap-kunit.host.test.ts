// results.ktap read by the kernel's own KTAP parser (tools/testing/kunit/kunit_parser.py, from the
// linux-source tree the KASAN images are built from): every case a test, its probes as subtests,
// statuses as the verdicts say. Runs where that tree is unpacked (any machine that built kasan-6.12).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderKtap } from './ktap.js';
import { cacheRoot } from '../util/paths.js';
import { fixtureNames, loadFixture } from './testing/fixtures.js';

function kunitDir(): string | null {
  const root = path.join(cacheRoot(), 'kernel-src');
  if (!existsSync(root)) return null;
  for (const unpacked of readdirSync(root)) {
    for (const tree of existsSync(path.join(root, unpacked)) ? readdirSync(path.join(root, unpacked)) : []) {
      const dir = path.join(root, unpacked, tree, 'tools', 'testing', 'kunit');
      if (existsSync(path.join(dir, 'kunit_parser.py'))) return dir;
    }
  }
  return null;
}

const kunit = kunitDir();
const work = mkdtempSync(path.join(tmpdir(), 'huci-ktap-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const READ = `
import json, sys, kunit_parser
t = kunit_parser.parse_run_tests(open(sys.argv[1]).read().splitlines(True))
print(json.dumps([{"name": s.name, "status": s.status.name, "subtests": [x.status.name for x in s.subtests]} for s in t.subtests]))
`;

describe.skipIf(kunit === null)('results.ktap through the kernel kunit_parser.py', () => {
  it.each(fixtureNames())('%s', (name) => {
    const run = loadFixture(name);
    const file = path.join(work, `${name}.ktap`);
    writeFileSync(file, renderKtap(run));
    const out = execFileSync('python3', ['-c', READ, file], { cwd: kunit!, encoding: 'utf8' });
    const tests = JSON.parse(out.trim().split('\n').pop()!) as { name: string; status: string; subtests: string[] }[];
    expect(tests).toHaveLength(run.cases.length);
    run.cases.forEach((c, i) => {
      const t = tests[i]!;
      expect(t.name).toContain(c.id);
      const want = c.verdict === 'skipped' ? 'SKIPPED' : c.verdict === 'crashed' || c.verdict === 'hung' || c.verdict === 'error' ? 'FAILURE' : 'SUCCESS';
      expect(t.status, c.id).toBe(want);
      expect(t.subtests).toEqual(c.probes.map((p) => (p.accepted ? 'SUCCESS' : 'FAILURE')));
    });
  });
});
