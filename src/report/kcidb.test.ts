// kcidb.json against the real KCIDB v5.3 schema (../shared/kcidb beside the repository), plus the
// verdict → status mapping and the issue/incident links.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { kcidbStatus, renderKcidb, treeName } from './kcidb.js';
import { VERDICTS, type CaseResult, type Verdict } from '../model/run.js';

type CaseVm = CaseResult['vm'];
import { fixtureNames, loadFixture, REPO } from './testing/fixtures.js';

const SCHEMA = path.resolve(REPO, '../shared/kcidb/v05_03.schema.json');
const HAVE_SCHEMA = existsSync(SCHEMA);

function validator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
}

describe('kcidb schema validation', () => {
  for (const name of fixtureNames()) {
    it.skipIf(!HAVE_SCHEMA)(`${name} is valid KCIDB v5.3${HAVE_SCHEMA ? '' : ` — skipped: ${SCHEMA} not found`}`, () => {
      const validate = validator();
      const data = renderKcidb(loadFixture(name));
      expect(validate(data), JSON.stringify(validate.errors, null, 2)).toBe(true);
    });
  }
  it.skipIf(!HAVE_SCHEMA)(`the validator rejects a broken document${HAVE_SCHEMA ? '' : ` — skipped: ${SCHEMA} not found`}`, () => {
    const validate = validator();
    const data = renderKcidb(loadFixture('run-two-images'));
    const bad = { ...data, tests: [{ ...data.tests[0], status: 'CRASHED' }] };
    expect(validate(bad)).toBe(false);
    const badPath = { ...data, tests: [{ ...data.tests[0], path: 'hotunplug.gpio/sim' }] };
    expect(validate(badPath)).toBe(false);
  });
  it.skipIf(!HAVE_SCHEMA)(
    `guest text with NUL, paths with odd characters and a custom origin stay valid${HAVE_SCHEMA ? '' : ` — skipped: ${SCHEMA} not found`}`,
    () => {
      const run = loadFixture('run-partial');
      const c = run.cases[0]!;
      run.cases[0] = { ...c, id: 'gpio/sim rmdir/chip:ioctl', consoleExcerpt: 'a\u0000b'.repeat(10000), reason: 'r\u0000' };
      const data = renderKcidb(run, { origin: 'my_ci' });
      const validate = validator();
      expect(validate(data), JSON.stringify(validate.errors)).toBe(true);
      expect(data.tests[0]!.path).toBe('hotunplug.gpio.sim_rmdir_chip_ioctl');
      expect(data.tests[0]!.log_excerpt!.length).toBeLessThanOrEqual(16384);
      expect(data.tests.every((t) => t.id.startsWith('my_ci:'))).toBe(true);
    },
  );
});

describe('kcidb content', () => {
  const run = loadFixture('run-two-images');
  const data = renderKcidb(run);

  it.each<[Verdict, string]>([
    ['handled', 'PASS'],
    ['crashed', 'FAIL'],
    ['hung', 'FAIL'],
    ['blocked', 'DONE'],
    ['silent', 'DONE'],
    ['error', 'ERROR'],
    ['skipped', 'SKIP'],
  ])('%s → %s', (v, s) => expect(kcidbStatus(v)).toBe(s));

  it('failOn turns blocked into FAIL', () => expect(kcidbStatus('blocked', ['crashed', 'hung', 'blocked'])).toBe('FAIL'));

  it('has one test per case execution with its status', () => {
    expect(data.tests).toHaveLength(run.cases.length);
    for (const v of VERDICTS) {
      expect(data.tests.filter((t) => t.status === kcidbStatus(v)).length).toBeGreaterThanOrEqual(run.cases.filter((c) => c.verdict === v).length);
    }
    expect(new Set(data.tests.map((t) => t.id)).size).toBe(data.tests.length);
    expect(data.tests.map((t) => t.path)).toContain('hotunplug.gpio.sim-rmdir-lineevent-poll');
  });

  it('has a checkout and build per image, with kernel version and config hash', () => {
    expect(data.checkouts.map((c) => c.id)).toEqual(['hotunplug:20261121-183000-a1b2c3:debian-6.12', 'hotunplug:20261121-183000-a1b2c3:kasan-6.12']);
    expect(data.builds[1]!.misc).toMatchObject({ config_hash: 'sha256:9e03b8d1c2aa' });
    expect(data.checkouts[1]!.misc).toMatchObject({ kernel_release: '6.12.57-huci-kasan' });
    for (const t of data.tests) expect(data.builds.map((b) => b.id)).toContain(t.build_id);
  });

  it('has an issue per distinct crash title and an incident per occurrence', () => {
    const titles = new Set(run.cases.flatMap((c) => c.findings.map((f) => f.title)));
    expect(data.issues.map((i) => i.report_subject).sort()).toEqual([...titles].sort());
    const occurrences = run.cases.reduce((n, c) => n + new Set(c.findings.map((f) => f.title)).size, 0);
    expect(data.incidents).toHaveLength(occurrences);
    for (const inc of data.incidents) {
      expect(data.issues.map((i) => i.id)).toContain(inc.issue_id);
      expect(data.tests.map((t) => t.id)).toContain(inc.test_id);
    }
    const kasan = data.issues.find((i) => i.report_subject.startsWith('KASAN'))!;
    expect(kasan.categories).toEqual(['runtime.kasan']);
  });

  it('refuses an origin KCIDB would refuse', () => {
    expect(() => renderKcidb(run, { origin: 'Hot-Unplug' })).toThrow(ConfigError);
  });
});

describe('kcidb boots', () => {
  it('every boot attempt is a KCIDB boot test (path "boot"); a crash while booting is FAIL with an incident of its issue', () => {
    const data = renderKcidb(loadFixture('run-boot-failures'));
    const boots = data.tests.filter((t) => t.path === 'boot');
    expect(boots.map((t) => [t.status, t.comment])).toEqual([
      ['FAIL', 'boot attempt 1 of 3: kernel panic: Attempted to kill init!'],
      ['FAIL', 'boot attempt 2 of 3: kernel panic: Attempted to kill init!'],
      ['FAIL', 'boot attempt 3 of 3: kernel panic: Attempted to kill init!'],
      ['PASS', 'boot attempt 1 of 3'],
    ]);
    expect(boots[0]!.log_excerpt).toContain('Kernel panic - not syncing: Attempted to kill init!');
    const issue = data.issues.find((i) => i.report_subject === 'kernel panic: Attempted to kill init!')!;
    expect(issue.categories).toEqual(['runtime.panic']);
    expect(data.incidents.filter((i) => i.issue_id === issue.id).map((i) => i.test_id)).toEqual(boots.slice(0, 3).map((t) => t.id));
  });
});

describe('kcidb checkouts say where the kernel came from', () => {
  const withCheckout = (checkout: NonNullable<CaseVm>['checkout']) => {
    const run = loadFixture('run-two-images');
    run.cases = run.cases.map((c) => (c.vm ? { ...c, vm: { ...c.vm, checkout } } : c));
    return renderKcidb(run);
  };
  it.skipIf(!HAVE_SCHEMA)('a git tree: repository, branch, commit and its describe name, and a tree name', () => {
    const data = withCheckout({
      gitCommitHash: 'a'.repeat(40),
      gitCommitName: 'v6.12-rc3-7-gaaaaaaaaaaaa',
      gitBranch: 'master',
      gitRepositoryUrl: 'https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git',
      dirty: true,
    });
    expect(data.checkouts[0]).toMatchObject({
      tree_name: 'mainline',
      git_repository_url: 'https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git',
      git_repository_branch: 'master',
      git_commit_hash: 'a'.repeat(40),
      git_commit_name: 'v6.12-rc3-7-gaaaaaaaaaaaa',
      misc: { dirty: true },
    });
    const validate = validator();
    expect(validate(data), JSON.stringify(validate.errors)).toBe(true);
  });
  it.skipIf(!HAVE_SCHEMA)('a remote KCIDB would refuse (ssh, a path) goes to misc; the commit stays', () => {
    const data = withCheckout({ gitCommitHash: 'b'.repeat(40), gitCommitName: 'bbbbbbbbbbbb', gitRepositoryUrl: 'git@example.org:me/linux-fixes.git' });
    expect(data.checkouts[0]).toMatchObject({
      tree_name: 'linux-fixes',
      git_commit_hash: 'b'.repeat(40),
      misc: { git_repository: 'git@example.org:me/linux-fixes.git' },
    });
    expect(data.checkouts[0]).not.toHaveProperty('git_repository_url');
    const validate = validator();
    expect(validate(data), JSON.stringify(validate.errors)).toBe(true);
  });
  it('a Debian kernel: its package and version', () => {
    const data = withCheckout({ package: 'linux-image-6.12.117+deb12-amd64-unsigned', packageVersion: '6.12.117-1~deb12u1' });
    expect(data.checkouts[0]!.misc).toMatchObject({ package: 'linux-image-6.12.117+deb12-amd64-unsigned', package_version: '6.12.117-1~deb12u1' });
    expect(data.checkouts[0]!.comment).toContain('(linux-image-6.12.117+deb12-amd64-unsigned 6.12.117-1~deb12u1)');
    expect(data.checkouts[0]).not.toHaveProperty('git_commit_hash');
  });
  it.each([
    ['https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git', 'mainline'],
    ['https://git.kernel.org/pub/scm/linux/kernel/git/next/linux-next.git', 'next'],
    ['https://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git', 'stable'],
    ['https://git.kernel.org/pub/scm/linux/kernel/git/brgl/linux.git/', 'linux'],
    ['/srv/git/gpio-fixes', 'gpio-fixes'],
  ])('tree name of %s is %s', (url, name) => expect(treeName(url)).toBe(name));
});
