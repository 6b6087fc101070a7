// `hotunplug-ci list [--json]`: suites, their cases, the kernel options they need, and the images.
import process from 'node:process';
import { listImages } from '../../image/index.js';
import { defaultSuitesDir, loadSuites, type LoadedSuite } from '../../scenario/load-suites.js';
import { removalMethodOf } from '../../scenario/suite-schema.js';

export interface ListCommandOptions {
  json?: boolean;
  suitesDir?: string;
}

export interface ListOutput {
  suites: Array<{
    name: string;
    file: string;
    description: string;
    images: string[];
    cases: Array<{
      id: string;
      provider: string;
      method: string;
      fdKind: string;
      op: string;
      removal: string;
      requires: string[];
      devices: string[];
      control?: string;
    }>;
  }>;
  images: Array<{ name: string; kind: string; description: string }>;
}

export function listData(suites: readonly LoadedSuite[]): ListOutput {
  return {
    suites: suites.map((s) => ({
      name: s.name,
      file: s.file,
      description: s.description,
      images: s.images,
      cases: s.cases.map((c) => ({
        id: c.id,
        provider: c.provider,
        method: c.method,
        fdKind: c.fdKind,
        op: c.op,
        removal: removalMethodOf(c.removal),
        requires: c.requires,
        devices: c.devices.map((d) => d.driver),
        ...(c.control ? { control: c.control.verdict } : {}),
      })),
    })),
    images: listImages().map((d) => ({ name: d.name, kind: d.kind, description: d.description ?? '' })),
  };
}

export async function list(opts: ListCommandOptions, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const data = listData(loadSuites([], opts.suitesDir ?? defaultSuitesDir()));
  if (opts.json) {
    out.write(`${JSON.stringify(data, null, 2)}\n`);
    return 0;
  }
  const lines: string[] = [];
  for (const s of data.suites) {
    lines.push(`${s.name} (${s.cases.length} cases; images: ${s.images.join(', ')}) — ${s.description}`);
    const width = Math.max(...s.cases.map((c) => c.id.length));
    for (const c of s.cases) {
      const extra = [c.removal, c.devices.length ? `devices: ${c.devices.join(', ')}` : '', c.control ? `control: ${c.control}` : '']
        .filter(Boolean)
        .join('; ');
      lines.push(`  ${c.id.padEnd(width)}  ${extra}`);
      lines.push(`  ${''.padEnd(width)}  requires ${c.requires.join(' ')}`);
    }
  }
  const total = data.suites.reduce((n, s) => n + s.cases.length, 0);
  lines.push('', `${total} cases in ${data.suites.length} suites`, '', 'images:');
  for (const i of data.images) lines.push(`  ${i.name.padEnd(14)} ${i.kind.padEnd(7)} ${i.description}`);
  out.write(`${lines.join('\n')}\n`);
  return 0;
}
