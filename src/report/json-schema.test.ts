// run.schema.json is generated from the zod schema; it must be current and accept the fixtures.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { RUN_JSON_SCHEMA_FILE, runJsonSchema, runJsonSchemaText } from './json-schema.js';
import { fixtureNames, loadFixture, TESTDATA, UPDATE } from './testing/fixtures.js';

const FILE = path.join(TESTDATA, '..', RUN_JSON_SCHEMA_FILE);

describe('run.schema.json', () => {
  it('is up to date with src/model/run.ts (UPDATE_GOLDEN=1 regenerates it)', () => {
    if (UPDATE) writeFileSync(FILE, runJsonSchemaText());
    expect(readFileSync(FILE, 'utf8'), `${FILE} is stale: run UPDATE_GOLDEN=1 npx vitest run src/report`).toBe(runJsonSchemaText());
  });
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(runJsonSchema());
  it.each(fixtureNames())('accepts %s', (name) => {
    const raw = JSON.parse(readFileSync(path.join(TESTDATA, `${name}.json`), 'utf8')) as unknown;
    expect(validate(raw), JSON.stringify(validate.errors)).toBe(true);
  });
  it('rejects an unknown verdict and an unknown key', () => {
    const run = loadFixture('run-partial');
    expect(validate({ ...run, cases: [{ ...run.cases[0], verdict: 'exploded' }] })).toBe(false);
    expect(validate({ ...run, surprise: 1 })).toBe(false);
  });
});
