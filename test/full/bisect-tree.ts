// A small git history made from Debian's linux-source tree, for the bisection test: the pristine
// tree, then the canary (images/canary/canary.c, the fixed variant) added in-tree as
// drivers/misc/huci_bisect.c, then four one-line commits, one of which turns it into canary-buggy.
// Dates and author are fixed, so the commits (and the kernel cache keys that follow them) are the
// same every time the history is made. The tree is hard-linked from the cached source tree (git
// replaces a file it checks out rather than writing into it) and kept in the cache between runs.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { getImageDef } from '../../src/image/resolve.js';
import { debianKernelSource, safeVersion } from '../../src/image/kernel-source.js';
import { cacheRoot, projectPath } from '../../src/util/paths.js';

export interface BisectHistory {
  tree: string;
  /** oldest first: the pristine tree, the driver added, then the one-line commits */
  commits: { sha: string; subject: string }[];
  base: string;
  good: string;
  bad: string;
  tip: string;
}

const AUTHOR = {
  GIT_AUTHOR_NAME: 'hotunplug-ci test',
  GIT_AUTHOR_EMAIL: 'test@hotunplug-ci.invalid',
  GIT_COMMITTER_NAME: 'hotunplug-ci test',
  GIT_COMMITTER_EMAIL: 'test@hotunplug-ci.invalid',
};
const DRIVER = 'drivers/misc/huci_bisect.c';
/** bump when the history's recipe changes: a tree made by an older recipe is made again */
const HISTORY_VERSION = 1;

export async function makeBisectHistory(log: (s: string) => void = () => {}): Promise<BisectHistory> {
  const def = getImageDef('kasan-6.12');
  if (def.kind !== 'source' || !('package' in def.source)) throw new Error('kasan-6.12 is not built from a Debian source package');
  const src = await debianKernelSource(def.source.package, join(cacheRoot(), 'kernel-src'), undefined, def.source.version);
  const tree = join(cacheRoot(), 'test-bisect', `${safeVersion(src.id)}-v${HISTORY_VERSION}`);
  const git = (args: string[], i = 0) =>
    execa('git', ['-C', tree, ...args], {
      env: { ...AUTHOR, GIT_AUTHOR_DATE: `2026-01-0${1 + i}T12:00:00Z`, GIT_COMMITTER_DATE: `2026-01-0${1 + i}T12:00:00Z` },
    });

  if (!existsSync(join(tree, '.git', 'refs', 'tags', 'done'))) {
    log(`making the git history in ${tree} from ${src.tree}`);
    await rm(tree, { recursive: true, force: true });
    await mkdir(join(tree, '..'), { recursive: true });
    await execa('cp', ['-al', src.tree, tree]);
    await git(['init', '-q', '-b', 'main']);
    await git(['add', '-Af']); // Debian's tree ignores itself (its .gitignore ends with /*)
    await git(['commit', '-q', '-m', `${src.id}: Debian's linux-source tree`], 0);

    const canary = await readFile(projectPath('images/canary/canary.c'), 'utf8');
    const fixed = canary
      .replace(
        /#ifdef CANARY_BUGGY\n#define CANARY_NAME "canary-buggy"\n#else\n#define CANARY_NAME "canary-fixed"\n#endif\n/,
        '#define CANARY_NAME "huci-bisect"\n',
      )
      .replace('hotunplug-ci control driver: ', 'hotunplug-ci bisection test driver: ');
    if (!fixed.includes('#define CANARY_NAME "huci-bisect"')) throw new Error('images/canary/canary.c changed: update test/full/bisect-tree.ts');
    await writeFile(join(tree, DRIVER), fixed);
    const kconfig = join(tree, 'drivers/misc/Kconfig');
    const k = await readFile(kconfig, 'utf8');
    await writeFile(
      kconfig,
      k.replace(
        /endmenu\s*$/,
        'config HUCI_BISECT\n\ttristate "hotunplug-ci bisection test driver"\n\thelp\n\t  A misc device whose fds outlive its unbind.\n\nendmenu\n',
      ),
    );
    await writeFile(
      join(tree, 'drivers/misc/Makefile'),
      `${await readFile(join(tree, 'drivers/misc/Makefile'), 'utf8')}obj-$(CONFIG_HUCI_BISECT)\t+= huci_bisect.o\n`,
    );
    await git(['add', '-Af']); // Debian's tree ignores itself (its .gitignore ends with /*)
    await git(['commit', '-q', '-m', 'misc: huci-bisect: a misc device that refcounts its state'], 1);

    const edits: [string, (s: string) => string][] = [
      ['misc: huci-bisect: say which binding is ready', (s) => s.replace('"/dev/%s ready (binding %llu)\\n"', '"/dev/%s is ready (binding %llu)\\n"')],
      [
        'misc: huci-bisect: let devres free the state',
        (s) => s.replace('#define CANARY_NAME "huci-bisect"\n', '#define CANARY_NAME "huci-bisect"\n#define CANARY_BUGGY 1\n'),
      ],
      [
        'misc: huci-bisect: comment the unbind message',
        (s) => s.replace('\tdev_info(&pdev->dev, "unbound\\n");', '\t/* the last trace of the binding */\n\tdev_info(&pdev->dev, "unbound\\n");'),
      ],
      ['misc: huci-bisect: describe the module', (s) => s.replace('bisection test driver: ', 'bisection test driver, ')],
    ];
    for (const [i, [subject, edit]] of edits.entries()) {
      const text = await readFile(join(tree, DRIVER), 'utf8');
      const next = edit(text);
      if (next === text) throw new Error(`test history: "${subject}" changed nothing`);
      await writeFile(join(tree, DRIVER), next);
      await git(['commit', '-q', '-am', subject], 2 + i);
    }
    await git(['tag', 'done']);
  } else {
    await git(['bisect', 'reset']).catch(() => undefined);
    await git(['checkout', '-qf', 'main']);
  }
  const lines = (await git(['log', '--reverse', '--format=%H %s'])).stdout.trim().split('\n');
  const commits = lines.map((l) => ({ sha: l.slice(0, 40), subject: l.slice(41) }));
  const bad = commits.find((c) => c.subject.includes('let devres free the state'))!.sha;
  return { tree, commits, base: commits[0]!.sha, good: commits[1]!.sha, bad, tip: commits.at(-1)!.sha };
}
