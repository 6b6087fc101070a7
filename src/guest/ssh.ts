// Guest control over SSH (ssh2): a per-run ed25519 key, bounded connect retries until the guest's
// sshd answers, exec with timeouts, and long-lived channels (the agent runs on one).
import { writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client, ClientChannel } from 'ssh2';
import { InfraError, TimeoutError, errorMessage } from '../errors.js';

type Ssh2 = typeof import('ssh2');
let ssh2: Promise<Ssh2> | null = null;
/** ssh2, loaded on first use: most runs start every guest from a saved state and never speak SSH. */
function loadSsh2(): Promise<Ssh2> {
  return (ssh2 ??= import('ssh2').then((m) => (m as { default?: Ssh2 }).default ?? m));
}

export interface SshKey {
  privateKeyPath: string;
  privateKey: string;
  /** full OpenSSH public key line */
  publicKey: string;
  /** base64 blob of the public key (what the guest init takes on the kernel cmdline) */
  publicBlob: string;
}

/** A fresh ed25519 key for one run, written 0600 into the run's temp dir. */
export async function createRunKey(dir: string): Promise<SshKey> {
  const pair = generateParsableKey((await loadSsh2()).utils);
  const blob = pair.public.split(' ')[1];
  if (!blob) throw new InfraError('ssh key generation produced no public key blob');
  return placeRunKey(dir, { privateKey: pair.private, publicKey: pair.public, publicBlob: blob });
}

/** A key made earlier (a restored guest trusts the key it booted with) written into `dir`. */
export async function placeRunKey(dir: string, k: Omit<SshKey, 'privateKeyPath'>): Promise<SshKey> {
  const privateKeyPath = join(dir, 'id_ed25519');
  await writeFile(privateKeyPath, k.privateKey, { mode: 0o600 });
  await chmod(privateKeyPath, 0o600);
  return { privateKeyPath, ...k };
}

/**
 * ssh2's generateKeyPairSync('ed25519') writes about 1 key in 250 in a form its own parser rejects
 * ("Malformed OpenSSH private key", measured: 13 of 3000): draw again until the key parses.
 */
export function generateParsableKey(utils: Ssh2['utils']): { private: string; public: string } {
  for (let attempt = 1; ; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment: 'hotunplug-ci' });
    if (!(utils.parseKey(pair.private) instanceof Error)) return pair;
    if (attempt >= 20) throw new InfraError(`ssh2 generated ${attempt} ed25519 keys it cannot parse itself`);
  }
}

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface ConnectOptions {
  port: number;
  key: SshKey;
  /** overall bound for sshd to answer */
  timeoutMs: number;
  /** console tail for the error message when sshd never answers */
  consoleTail?: () => readonly string[];
  /** stop retrying early when this resolves (e.g. QEMU exited) */
  abort?: Promise<unknown>;
}

export class SshGuest {
  private lostReason: string | null = null;
  private readonly lostListeners = new Set<(reason: string) => void>();

  private constructor(private readonly client: Client) {
    client.on('close', () => this.markLost('ssh connection closed'));
    client.on('error', (e: Error) => this.markLost(`ssh error: ${e.message}`));
  }

  /** Connect with bounded retries: sshd comes up some seconds after QEMU starts. */
  static async connect(opts: ConnectOptions): Promise<SshGuest> {
    const deadline = Date.now() + opts.timeoutMs;
    let aborted = false;
    opts.abort?.then(
      () => (aborted = true),
      () => (aborted = true),
    );
    let lastError = 'no attempt';
    let attempt = 0;
    while (Date.now() < deadline && !aborted) {
      attempt++;
      try {
        const client = await connectOnce(opts.port, opts.key.privateKey, Math.min(5_000, Math.max(500, deadline - Date.now())));
        return new SshGuest(client);
      } catch (e) {
        lastError = errorMessage(e);
      }
      // back off a little so a refused port does not spin a core that TCG needs
      await delay(Math.min(250, Math.max(0, deadline - Date.now())));
    }
    const tail = opts.consoleTail?.() ?? [];
    const why = aborted ? 'the guest went away' : `no answer within ${(opts.timeoutMs / 1000).toFixed(0)} s`;
    throw new TimeoutError(
      `sshd on 127.0.0.1:${opts.port}: ${why} after ${attempt} attempts (last: ${lastError}); console tail: ${tail.slice(-5).join(' / ') || '(empty)'}`,
      opts.timeoutMs / 1000,
      tail,
    );
  }

  get lost(): string | null {
    return this.lostReason;
  }

  onLost(cb: (reason: string) => void): () => void {
    this.lostListeners.add(cb);
    return () => this.lostListeners.delete(cb);
  }

  /** Run a command; never rejects for the command's own failure, only for a lost connection. */
  exec(command: string, opts: { timeoutMs: number; stdin?: string }): Promise<ExecResult> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      if (this.lostReason) {
        reject(new InfraError(`ssh exec "${command}": ${this.lostReason}`));
        return;
      }
      this.client.exec(command, (err, channel) => {
        if (err) {
          reject(new InfraError(`ssh exec "${command}": ${err.message}`));
          return;
        }
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        let signal: string | null = null;
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          channel.close();
          finish();
        }, opts.timeoutMs);
        let finished = false;
        const finish = (): void => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut });
        };
        channel.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
        channel.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        channel.on('exit', (c: number | null, sig?: string) => {
          code = c;
          signal = sig ?? null;
        });
        channel.on('close', finish);
        if (opts.stdin !== undefined) channel.end(opts.stdin);
        else channel.end();
      });
    });
  }

  /** A long-lived channel running `command` (the agent): its stdin/stdout as one duplex stream. */
  channel(command: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (this.lostReason) {
        reject(new InfraError(`ssh channel "${command}": ${this.lostReason}`));
        return;
      }
      this.client.exec(command, (err, channel) => {
        if (err) reject(new InfraError(`ssh channel "${command}": ${err.message}`));
        else resolve(channel);
      });
    });
  }

  close(): void {
    this.lostReason ??= 'closed by harness';
    this.client.end();
    this.client.destroy();
  }

  private markLost(reason: string): void {
    if (this.lostReason) return;
    this.lostReason = reason;
    for (const cb of this.lostListeners) cb(reason);
  }
}

async function connectOnce(port: number, privateKey: string, readyTimeout: number): Promise<Client> {
  const { Client } = await loadSsh2();
  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    // a handshake can also end in a bare 'close' (no 'error'), or never settle under heavy load
    const timer = setTimeout(() => fail(new Error(`no SSH handshake within ${readyTimeout + 1000} ms`)), readyTimeout + 1000);
    const fail = (e: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.destroy();
      reject(e);
    };
    client.once('ready', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.removeListener('error', fail);
      client.removeListener('close', onClose);
      resolve(client);
    });
    const onClose = (): void => fail(new Error('connection closed before the SSH handshake finished'));
    client.once('error', fail);
    client.once('close', onClose);
    client.connect({
      host: '127.0.0.1',
      port,
      username: 'root',
      privateKey,
      readyTimeout,
      // the guest's host key is baked into a throwaway image: nothing to verify it against
      hostVerifier: () => true,
      // a frozen guest must surface as a lost connection, not a hang
      keepaliveInterval: 3_000,
      keepaliveCountMax: 4,
    });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
