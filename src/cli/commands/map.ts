// `hotunplug-ci map RUN_DIR…`: the subsystem × removal-method map of one or more runs (one per
// kernel, or merged shards), each cell naming what happened to the held fds.
import { buildMap, renderMapText } from '../../report/map.js';
import { readRunFile } from '../../report/run-file.js';

export interface MapOptions {
  json?: boolean;
  stdout?: NodeJS.WritableStream;
}

export async function map(runDirs: readonly string[], opts: MapOptions = {}): Promise<number> {
  const runs = [];
  for (const d of runDirs) runs.push((await readRunFile(d)).run);
  const m = buildMap(runs);
  const out = opts.stdout ?? process.stdout;
  out.write(opts.json ? `${JSON.stringify(m, null, 2)}\n` : renderMapText(m));
  return 0;
}
