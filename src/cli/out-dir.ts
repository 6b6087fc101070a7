// Where reports go (--out): checked before any guest boots or any shard is read.
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError, errorMessage } from '../errors.js';
import { REPORTS_DIR } from '../report/write.js';
import { makeDirFor } from '../util/files.js';

/** Creates <root>/reports and proves a file can be written there, before any guest boots. */
export async function checkWritable(root: string, what: string): Promise<void> {
  const dir = path.join(root, REPORTS_DIR);
  const probe = path.join(dir, `.write-test-${process.pid}`);
  try {
    makeDirFor(dir);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    throw new UsageError(`${what} ${root}: cannot write reports in ${dir}: ${errorMessage(e)}`);
  }
}
