// Golden outputs: every testdata/run-*.json renders to testdata/golden/<name>/{index.html,junit.xml,kcidb.json,results.ktap}.
import { describe, it } from 'vitest';
import { renderHtml } from './html.js';
import { renderJunit } from './junit.js';
import { renderKtap } from './ktap.js';
import { renderKcidb } from './kcidb.js';
import { expectGolden, fixtureNames, loadFixture } from './testing/fixtures.js';

describe.each(fixtureNames())('golden %s', (name) => {
  const run = loadFixture(name);
  it('index.html', () => expectGolden(`${name}/index.html`, renderHtml(run)));
  it('junit.xml', () => expectGolden(`${name}/junit.xml`, renderJunit(run)));
  it('kcidb.json', () => expectGolden(`${name}/kcidb.json`, `${JSON.stringify(renderKcidb(run), null, 2)}\n`));
  it('results.ktap', () => expectGolden(`${name}/results.ktap`, renderKtap(run)));
});
