// Posting kcidb.json to a KCIDB REST endpoint. KCIDB_REST is the variable KernelCI's own tools read:
// https://TOKEN@host[:port][/path] — the token rides in the URL's user part and is sent as a bearer
// token to the URL without it (path /submit when none is given). A 5xx or a dropped connection is
// retried; a 4xx is the server refusing this document or this token, said in one line.
import { ConfigError, InfraError, errorMessage } from '../errors.js';

export interface KcidbEndpoint {
  url: string;
  token: string;
}

/** KCIDB_REST's value as URL and token; a ConfigError naming the variable when it is not one. */
export function parseKcidbRest(value: string | undefined): KcidbEndpoint {
  if (!value) throw new ConfigError('KCIDB_REST', '', 'not set: give the submission URL with its token, https://TOKEN@host/submit');
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError('KCIDB_REST', '', 'is not a URL (expected https://TOKEN@host/submit)');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ConfigError('KCIDB_REST', '', `${u.protocol} is not http(s)`);
  const token = decodeURIComponent(u.username);
  if (!token) throw new ConfigError('KCIDB_REST', '', 'has no token (expected https://TOKEN@host/submit)');
  u.username = '';
  u.password = '';
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/submit';
  return { url: u.toString(), token };
}

export interface SubmitOptions {
  /** attempts in all, for 5xx answers and connection failures (default 4) */
  attempts?: number;
  /** wait before retry n (1-based); default 1 s, 2 s, 4 s… */
  backoffMs?: (n: number) => number;
  sleep?: (ms: number) => Promise<void>;
  fetch?: typeof fetch;
  /** one line per attempt that failed and will be retried */
  onRetry?: (line: string) => void;
}

export interface SubmitResult {
  status: number;
  attempts: number;
  /** the server's answer, first 500 characters */
  body: string;
}

export async function submitKcidb(doc: unknown, endpoint: KcidbEndpoint, opts: SubmitOptions = {}): Promise<SubmitResult> {
  const attempts = opts.attempts ?? 4;
  const backoff = opts.backoffMs ?? ((n: number) => 1000 * 2 ** (n - 1));
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const post = opts.fetch ?? fetch;
  const body = JSON.stringify(doc);
  let last = '';
  for (let n = 1; n <= attempts; n++) {
    let status: number | null = null;
    let text = '';
    try {
      const r = await post(endpoint.url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${endpoint.token}` },
        body,
        signal: AbortSignal.timeout(60_000),
      });
      status = r.status;
      text = (await r.text()).slice(0, 500);
    } catch (e) {
      last = `no answer from ${endpoint.url}: ${errorMessage(e)}`;
    }
    if (status !== null && status < 400) return { status, attempts: n, body: text };
    if (status !== null && status < 500) {
      throw new InfraError(`KCIDB refused the submission to ${endpoint.url}: HTTP ${status}${text ? `: ${text.split('\n')[0]}` : ''}`);
    }
    if (status !== null) last = `HTTP ${status} from ${endpoint.url}${text ? `: ${text.split('\n')[0]}` : ''}`;
    if (n < attempts) {
      opts.onRetry?.(`${last}; retrying in ${Math.round(backoff(n) / 1000)} s (attempt ${n + 1} of ${attempts})`);
      await sleep(backoff(n));
    }
  }
  throw new InfraError(`KCIDB submission failed after ${attempts} attempts: ${last}`);
}
