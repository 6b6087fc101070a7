// What a kernel tree given with --kernel-src was checked out from, when it is a git tree: the
// commit, its `git describe` name, the branch and the remote — what KCIDB's checkout object names.
import { z } from '../zod.js';
import { runLong } from './exec.js';

export const GitCheckoutSchema = z.strictObject({
  commitHash: z.string().regex(/^[0-9a-f]{40}$/),
  /** `git describe --tags --always`, e.g. v6.12-rc1-42-gdeadbeef */
  commitName: z.string(),
  /** null when HEAD is detached (as in a bisection) */
  branch: z.string().nullable(),
  /** the fetch URL of the branch's remote (or origin), as git has it: https, ssh or a path */
  repositoryUrl: z.string().nullable(),
  /** uncommitted changes on top of the commit */
  dirty: z.boolean(),
});
export type GitCheckout = z.infer<typeof GitCheckoutSchema>;

/** null when the tree is not a git work tree (or git is missing). */
export async function readGitCheckout(tree: string): Promise<GitCheckout | null> {
  const git = async (...args: string[]): Promise<string | null> => {
    try {
      return (await runLong('git', ['-C', tree, ...args])).trim();
    } catch {
      return null;
    }
  };
  const commitHash = await git('rev-parse', '--verify', 'HEAD');
  if (!commitHash || !/^[0-9a-f]{40}$/.test(commitHash)) return null;
  const ref = await git('rev-parse', '--abbrev-ref', 'HEAD');
  const branch = ref && ref !== 'HEAD' ? ref : null;
  const remote = (branch ? await git('config', `branch.${branch}.remote`) : null) || 'origin';
  return {
    commitHash,
    commitName: (await git('describe', '--tags', '--always')) ?? commitHash.slice(0, 12),
    branch,
    repositoryUrl: (await git('remote', 'get-url', remote)) || null,
    dirty: ((await git('status', '--porcelain', '--untracked-files=no')) ?? '') !== '',
  };
}

/** Where an image's kernel came from, for reports: its git checkout, else its Debian package. */
export function checkoutOf(m: { git: GitCheckout | null; packages: Record<string, string> }): {
  gitCommitHash?: string;
  gitCommitName?: string;
  gitBranch?: string;
  gitRepositoryUrl?: string;
  dirty?: boolean;
  package?: string;
  packageVersion?: string;
} {
  if (m.git) {
    return {
      gitCommitHash: m.git.commitHash,
      gitCommitName: m.git.commitName,
      ...(m.git.branch ? { gitBranch: m.git.branch } : {}),
      ...(m.git.repositoryUrl ? { gitRepositoryUrl: m.git.repositoryUrl } : {}),
      dirty: m.git.dirty,
    };
  }
  const pkg = Object.keys(m.packages).find((p) => p.startsWith('linux-image-') || p.startsWith('linux-source-'));
  return pkg ? { package: pkg, packageVersion: m.packages[pkg]! } : {};
}
