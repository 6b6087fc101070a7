// What a run adds to the cases the user selected, and what it is called: the canary calibration
// and the run id. Policy of the scenario layer; the run command only asks for it.
import { loadSuites, type LoadedSuite } from './load-suites.js';
import type { PlannedCase } from './run-loop.js';
import type { Shard } from './shard.js';

/** The canary suite: known-buggy and known-fixed drivers whose verdicts calibrate the harness. */
export const CONTROL_SUITE = 'canary';
/** The controls a run gets when it selects none itself: one positive and one negative. */
const AUTO_CONTROLS = /^canary\/(buggy|fixed)-unbind-read$/;

/**
 * A run that selects no canary control on an image still gets the read controls there, first, on
 * every planned image the canary suite can run on: without them no verdict of the run can be
 * trusted. A suite's own controls (input's EVIOCREVOKE) calibrate that suite's probes, not the
 * detector: they do not stand in for the canary. --no-controls opts out; a shard leaves controls to
 * whichever shard their cases hash to. `alsoImages`: images outside the canary suite's list that carry
 * the canary modules (a --kernel-src tree built with a KASAN recipe).
 */
export function calibrationCases(selected: readonly PlannedCase[], suitesDir?: string, alsoImages: readonly string[] = []): PlannedCase[] {
  const calibrated = new Set(selected.filter((p) => p.c.control && p.c.suite === CONTROL_SUITE).map((p) => p.image));
  let canary: LoadedSuite;
  try {
    [canary] = loadSuites([CONTROL_SUITE], suitesDir) as [LoadedSuite];
  } catch {
    return []; // a suites dir without the canary (e.g. test fixtures): nothing to calibrate with
  }
  const images = [...new Set(selected.map((p) => p.image))].filter((img) => (canary.images.includes(img) || alsoImages.includes(img)) && !calibrated.has(img));
  return images.flatMap((image) => canary.cases.filter((c) => c.control && AUTO_CONTROLS.test(c.id)).map((c) => ({ c, image, iteration: 1 })));
}

/** `<ISO time>-<suites joined by +>[-shardIofN]`: sorts by time, says what ran. */
export function newRunId(suites: readonly string[], shard: Shard | undefined, now = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${suites.join('+')}${shard ? `-shard${shard.index}of${shard.count}` : ''}`;
}
