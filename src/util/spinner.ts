// ora (a spinner, with chalk and its tables of character widths) is loaded only where a spinner can
// be shown: when stderr is a terminal. CI logs and benches never pay for loading it.
import type { Options, Ora } from 'ora';

export const spinner: ((opts: Options) => Ora) | null = process.stderr.isTTY ? (await import('ora')).default : null;
