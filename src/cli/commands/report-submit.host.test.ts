// `report RUN_DIR --submit` against a KCIDB stand-in on 127.0.0.1 that checks the bearer token and
// validates every body against ../shared's KCIDB v5.3 schema: accepted, retried after 5xx, refused
// with 4xx, and KCIDB_REST missing or without a token.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../main.js';
import { report } from './report.js';
import { loadFixture, REPO } from '../../report/testing/fixtures.js';
import { parseKcidbRest } from '../../report/kcidb-submit.js';
import { captureOutput } from './testing/capture-output.js';

const io = captureOutput();
const SCHEMA = path.resolve(REPO, '../shared/kcidb/v05_03.schema.json');

interface Seen {
  path: string;
  auth: string | undefined;
  valid: boolean;
  errors: string;
}
let server: http.Server;
let base = '';
const seen: Seen[] = [];
/** what the next requests answer, in order (then 200) */
let script: number[] = [];

beforeAll(async () => {
  expect(existsSync(SCHEMA), `${SCHEMA} is where CI puts ../shared`).toBe(true);
  const ajv = new Ajv({ strict: false, allErrors: true });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  const validate = ajv.compile(JSON.parse(readFileSync(SCHEMA, 'utf8')) as object);
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      let valid = false;
      try {
        valid = validate(JSON.parse(body)) as boolean;
      } catch {}
      seen.push({ path: req.url ?? '', auth: req.headers.authorization, valid, errors: JSON.stringify(validate.errors ?? []) });
      const status = script.shift() ?? (valid ? 200 : 400);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'OK, queued' : status < 500 ? 'invalid token\nmore' : 'try later');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function runDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'huci-submit-'));
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify(loadFixture('run-two-images')));
  return dir;
}
const quick = { backoffMs: () => 1 };

describe('report --submit', () => {
  it('posts kcidb.json with the bearer token from KCIDB_REST, to the URL without it; the body is valid KCIDB v5.3', async () => {
    seen.length = 0;
    const env = { KCIDB_REST: `http://s3cret@${base}/submit` };
    expect(await report(runDir(), { submit: true, env, submitOptions: quick })).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ path: '/submit', auth: 'Bearer s3cret' });
    expect(seen[0]!.valid, seen[0]!.errors).toBe(true);
    expect(io.out).toContain(`submitted kcidb.json to http://${base}/submit: HTTP 200`);
    expect(io.out).not.toContain('s3cret');
  });
  it('retries a 5xx and says so', async () => {
    seen.length = 0;
    script = [503, 502];
    expect(await report(runDir(), { submit: true, env: { KCIDB_REST: `http://t@${base}` }, submitOptions: quick })).toBe(0);
    expect(seen.map((s) => s.path)).toEqual(['/submit', '/submit', '/submit']);
    expect(io.out).toContain('HTTP 503 from');
    expect(io.out).toContain('HTTP 200 after 3 attempts');
  });
  it('a 4xx is one line and exit 3, not retried', async () => {
    seen.length = 0;
    script = [401];
    process.env.KCIDB_REST = `http://bad@${base}/submit`;
    try {
      expect(await main(['report', runDir(), '--submit'])).toBe(3);
    } finally {
      delete process.env.KCIDB_REST;
    }
    expect(seen).toHaveLength(1);
    expect(io.err).toMatch(/^hotunplug-ci: KCIDB refused the submission to http:\/\/127\.0\.0\.1:\d+\/submit: HTTP 401: invalid token\n$/);
  });
  it('gives up after its attempts when the server keeps failing', async () => {
    seen.length = 0;
    script = [500, 500, 500, 500];
    await expect(report(runDir(), { submit: true, env: { KCIDB_REST: `http://t@${base}/x` }, submitOptions: quick })).rejects.toThrow(
      /KCIDB submission failed after 4 attempts: HTTP 500 from http:\/\/127\.0\.0\.1:\d+\/x: try later/,
    );
  });
  it.each([
    [undefined, /^hotunplug-ci: KCIDB_REST: not set: give the submission URL with its token, https:\/\/TOKEN@host\/submit\n$/],
    ['https://kcidb.example.org/submit', /^hotunplug-ci: KCIDB_REST: has no token/],
    ['not a url', /^hotunplug-ci: KCIDB_REST: is not a URL/],
  ])('KCIDB_REST=%s is a usage error (exit 2) before anything is written', async (value, line) => {
    if (value === undefined) delete process.env.KCIDB_REST;
    else process.env.KCIDB_REST = value;
    const dir = runDir();
    try {
      expect(await main(['report', dir, '--submit'])).toBe(2);
    } finally {
      delete process.env.KCIDB_REST;
    }
    expect(io.err).toMatch(line);
    expect(existsSync(path.join(dir, 'kcidb.json'))).toBe(false);
  });
  it('parses the token out of the URL and defaults the path', () => {
    expect(parseKcidbRest('https://abc.def@kcidb.kernelci.org')).toEqual({ url: 'https://kcidb.kernelci.org/submit', token: 'abc.def' });
    expect(parseKcidbRest('https://t@h:8443/api/submit')).toEqual({ url: 'https://h:8443/api/submit', token: 't' });
  });
});
