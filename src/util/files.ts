// Small file-system questions shared across layers.
import { access } from 'node:fs/promises';

/** Whether `file` exists (anything access(2) can see). */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
