// `--kernel BZIMAGE --modules DIR`: say up front which options of the default image's fragments
// someone else's kernel lacks (cases needing them come out `skipped`, naming the option).
import { join } from 'node:path';
import { checkKernelConfig, DEFAULT_IMAGE, describeMissing, findImage, IMAGES_DIR } from '../image/index.js';

export async function userKernelGaps(kernel: string, modulesDir: string): Promise<string[]> {
  const def = findImage(DEFAULT_IMAGE);
  const fragments = def && def.kind === 'source' ? def.fragments.map((f) => join(IMAGES_DIR, f)) : [];
  const check = await checkKernelConfig({ kernel, modulesDir, fragments });
  if (check.configSource === null) {
    return [
      `--kernel ${kernel}: no .config found (modules dir build/.config, or IKCONFIG in the bzImage): kernel options cannot be checked, cases run as if every option were there`,
    ];
  }
  if (check.missing.length === 0) return [];
  return [
    `--kernel ${kernel} (config from ${check.configSource}) lacks ${check.missing.length} option(s) our fragments ask for; cases needing them are skipped:`,
    ...check.missing.map((m) => `  ${describeMissing(m)}`),
  ];
}
