// Saved ready guests: one machine state per (image, QEMU machine) in the image's cache directory,
// so a rebuilt or pruned image takes its snapshots with it. The key is the QEMU version and the
// argv the guest boots with, less what differs between two boots of the same machine (the run
// directory, the forwarded port, the SSH key: a restored guest keeps the key it booted with,
// stored beside its state).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, utimesSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from '../zod.js';
import { writeFileAtomic } from '../util/files.js';
import type { SshKey } from '../guest/ssh.js';
import { qemuArgv } from '../vm/qemu-argv.js';
import { MachineSpecSchema, type MachineSpecInput } from '../vm/machine-spec.js';

/** Bump when what a restore expects of a saved guest changes (init, the agent's handshake). */
const FORMAT = 1;
const SSH_KEY_WORD = 'huci.sshkey=';

const SnapshotMetaSchema = z.strictObject({
  format: z.literal(FORMAT),
  key: z.string(),
  /** the state's file in the store: a name of its own per save, so a reader never pairs one save's meta with another's state */
  state: z.string().regex(/^[^/]+\.state$/),
  qemu: z.string(),
  savedAt: z.string(),
  bytes: z.number(),
  saveMs: z.number(),
  /** ms the guest it was saved from took to boot to a ready agent */
  bootMs: z.number(),
  sshKey: z.strictObject({ privateKey: z.string(), publicKey: z.string(), publicBlob: z.string() }),
});
export type SnapshotMeta = z.infer<typeof SnapshotMetaSchema>;

export interface GuestSnapshot {
  meta: SnapshotMeta;
  stateFile: string;
}

/** The key of the machine `input` describes, whatever run directory, port and SSH key it has. */
export function snapshotKey(input: MachineSpecInput, qemu: string): string {
  const spec = MachineSpecSchema.parse({
    ...input,
    runDir: '/huci-run',
    ...(input.sshHostPort === undefined ? {} : { sshHostPort: 1 }),
    append: (input.append ?? []).filter((w) => !w.startsWith(SSH_KEY_WORD)),
    // the drives' files are made empty for every guest, in its run directory
    drives: (input.drives ?? []).map((d) => ({ ...d, file: path.basename(d.file) })),
    incoming: false,
  });
  const argv = qemuArgv(spec).map((w) => w.replaceAll(path.dirname(input.kernel), '<image>'));
  // the image directory's name is its inputs' hash: a rebuilt image is another directory
  const image = path.basename(path.dirname(input.kernel));
  return createHash('sha256')
    .update(JSON.stringify({ format: FORMAT, qemu, image, argv }))
    .digest('hex')
    .slice(0, 16);
}

/** What a store may hold before the least recently used states go (a KASAN guest's is ~300 MB). */
const DEFAULT_BUDGET_BYTES = 8 * 2 ** 30;
const STRAY_AGE_MS = 3_600_000;

export class SnapshotStore {
  constructor(
    readonly dir: string,
    private readonly budgetBytes = DEFAULT_BUDGET_BYTES,
  ) {}

  /** The saved guest for `key`, or null (none, or one this version cannot use). Marks it used. */
  find(key: string): GuestSnapshot | null {
    const parsed = SnapshotMetaSchema.safeParse(safeJson(this.metaFile(key)));
    if (!parsed.success || parsed.data.key !== key) return null;
    const stateFile = path.join(this.dir, parsed.data.state);
    if (!existsSync(stateFile)) return null;
    const now = new Date();
    utimesSync(this.metaFile(key), now, now);
    return { meta: parsed.data, stateFile };
  }

  /** A new file for a save of `key` to write its state to; commit() makes it findable. */
  async newStateFile(key: string): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    return path.join(this.dir, `${key}.${randomBytes(6).toString('hex')}.state`);
  }

  /** Publishes `stateFile` as the saved guest of `key`; older states of the key and, past the budget, the least used go. */
  async commit(key: string, stateFile: string, meta: Omit<SnapshotMeta, 'format' | 'key' | 'bytes' | 'state'>): Promise<GuestSnapshot> {
    const bytes = (await stat(stateFile)).size;
    const full: SnapshotMeta = { format: FORMAT, key, state: path.basename(stateFile), bytes, ...meta };
    // it holds the SSH key the saved guest trusts
    await writeFileAtomic(this.metaFile(key), `${JSON.stringify(full, null, 2)}\n`, 0o600);
    // a restore already reading an older state keeps its open file
    for (const f of await readdir(this.dir)) {
      if (f.startsWith(`${key}.`) && f.endsWith('.state') && f !== full.state) await rm(path.join(this.dir, f), { force: true });
    }
    await this.keepWithinBudget(key);
    return { meta: full, stateFile };
  }

  /** Why `key` cannot be saved (QEMU refused: a device that does not migrate), or null. */
  unsavable(key: string): string | null {
    try {
      return readFileSync(this.unsavableFile(key), 'utf8').trim() || 'unsavable';
    } catch {
      return null;
    }
  }

  /** Remembers that QEMU refuses to save `key` (the key holds QEMU's version: an upgrade tries again). */
  async markUnsavable(key: string, why: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.unsavableFile(key), `${why}\n`);
  }

  async drop(key: string): Promise<void> {
    const meta = SnapshotMetaSchema.safeParse(safeJson(this.metaFile(key)));
    await rm(this.metaFile(key), { force: true });
    if (meta.success) await rm(path.join(this.dir, meta.data.state), { force: true });
  }

  private async keepWithinBudget(keep: string): Promise<void> {
    const saved = [];
    const files = await readdir(this.dir);
    const published = new Set<string>();
    for (const f of files) {
      if (!f.endsWith('.json')) continue;
      const key = f.slice(0, -'.json'.length);
      const meta = SnapshotMetaSchema.safeParse(safeJson(path.join(this.dir, f)));
      if (!meta.success) continue;
      published.add(meta.data.state);
      saved.push({ key, bytes: meta.data.bytes, used: (await stat(path.join(this.dir, f))).mtimeMs });
    }
    // states no meta names, an hour old: saves that died half-way
    for (const f of files) {
      if (!/\.state(\.tmp)?$/.test(f) || published.has(f)) continue;
      const st = await stat(path.join(this.dir, f)).catch(() => null);
      if (st && Date.now() - st.mtimeMs > STRAY_AGE_MS) await rm(path.join(this.dir, f), { force: true });
    }
    let total = saved.reduce((a, s) => a + s.bytes, 0);
    for (const s of saved.sort((a, b) => a.used - b.used)) {
      if (total <= this.budgetBytes) break;
      if (s.key === keep) continue;
      await this.drop(s.key);
      total -= s.bytes;
    }
  }

  private unsavableFile(key: string): string {
    return path.join(this.dir, `${key}.unsavable`);
  }

  private metaFile(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }
}

export function sshKeyMeta(k: SshKey): SnapshotMeta['sshKey'] {
  return { privateKey: k.privateKey, publicKey: k.publicKey, publicBlob: k.publicBlob };
}

function safeJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}
