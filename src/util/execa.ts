// execa and its dependency tree (a quarter of the CLI's code by size), loaded on first use: a run
// with its image built spawns nothing but QEMU, and pays nothing for it.
type Execa = typeof import('execa')['execa'];

let loaded: Promise<Execa> | null = null;

export function loadExeca(): Promise<Execa> {
  return (loaded ??= import('execa').then((m) => m.execa));
}
