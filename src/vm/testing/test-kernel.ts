// A bzImage for tests that boot a kernel with no initrd (accelerator probe, panic capture):
// HOTUNPLUG_TEST_KERNEL, else a Debian kernel from the image cache, else Debian's kernel package
// downloaded once into ${cache}/test-kernels/.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, InfraError } from '../../errors.js';
import { cacheRoot } from '../../util/paths.js';

const run = promisify(execFile);
const TEST_KERNEL_PACKAGE = 'linux-image-6.12.117+deb12-amd64-unsigned';

export async function findTestKernel(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const fromEnv = env.HOTUNPLUG_TEST_KERNEL;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new ConfigError(fromEnv, '', 'HOTUNPLUG_TEST_KERNEL names a file that does not exist');
    return fromEnv;
  }
  return fromImageCache() ?? (await downloadDebianKernel());
}

function fromImageCache(): string | null {
  const root = path.join(cacheRoot(), 'images');
  let entries: string[];
  try {
    entries = fs
      .readdirSync(root)
      .filter((e) => e.startsWith('debian-') && !e.includes('.tmp-'))
      .sort();
  } catch {
    return null;
  }
  for (const e of entries) {
    try {
      const m = JSON.parse(fs.readFileSync(path.join(root, e, 'manifest.json'), 'utf8')) as { files?: { kernel?: string } };
      const k = m.files?.kernel ? path.join(root, e, m.files.kernel) : null;
      if (k && fs.existsSync(k)) return k;
    } catch {
      // not a finished image
    }
  }
  return null;
}

async function downloadDebianKernel(): Promise<string> {
  const dir = path.join(cacheRoot(), 'test-kernels');
  const final = path.join(dir, `${TEST_KERNEL_PACKAGE}.vmlinuz`);
  if (fs.existsSync(final)) return final;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(dir, `.tmp-${process.pid}-`));
  try {
    await run('apt-get', ['download', TEST_KERNEL_PACKAGE], { cwd: tmp }).catch((e: Error & { stderr?: string }) => {
      throw new InfraError(`apt-get download ${TEST_KERNEL_PACKAGE} failed: ${(e.stderr ?? e.message).trim().split('\n').pop()}`);
    });
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new InfraError(`apt-get download ${TEST_KERNEL_PACKAGE} left no .deb in ${tmp}`);
    await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x --wildcards "./boot/vmlinuz-*"', 'sh', deb], { cwd: tmp });
    const img = fs.readdirSync(path.join(tmp, 'boot')).find((f) => f.startsWith('vmlinuz-'));
    if (!img) throw new InfraError(`${deb} has no boot/vmlinuz-*`);
    fs.renameSync(path.join(tmp, 'boot', img), final); // atomic: parallel test files may race here
    return final;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
