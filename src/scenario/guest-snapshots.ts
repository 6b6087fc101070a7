// Saved ready guests: one machine state per (image, QEMU machine) in the image's cache directory,
// so a rebuilt or pruned image takes its snapshots with it. The key is the QEMU version and the
// argv the guest boots with, less what differs between two boots of the same machine (the run
// directory, the forwarded port, the SSH key: a restored guest keeps the key it booted with,
// stored beside its state).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
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

export class SnapshotStore {
  constructor(readonly dir: string) {}

  /** The saved guest for `key`, or null (none, or one this version cannot use: dropped). */
  find(key: string): GuestSnapshot | null {
    const stateFile = this.stateFile(key);
    const metaFile = this.metaFile(key);
    if (!existsSync(stateFile) || !existsSync(metaFile)) return null;
    const parsed = SnapshotMetaSchema.safeParse(safeJson(metaFile));
    if (!parsed.success || parsed.data.key !== key) return null;
    return { meta: parsed.data, stateFile };
  }

  /** Where save() wants the state written (the state first, then the meta that makes it findable). */
  stateFile(key: string): string {
    return path.join(this.dir, `${key}.state`);
  }

  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async commit(key: string, meta: Omit<SnapshotMeta, 'format' | 'key' | 'bytes'>): Promise<GuestSnapshot> {
    const bytes = (await stat(this.stateFile(key))).size;
    const full: SnapshotMeta = { format: FORMAT, key, bytes, ...meta };
    await writeFileAtomic(this.metaFile(key), `${JSON.stringify(full, null, 2)}\n`);
    return { meta: full, stateFile: this.stateFile(key) };
  }

  async drop(key: string): Promise<void> {
    await rm(this.metaFile(key), { force: true });
    await rm(this.stateFile(key), { force: true });
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
