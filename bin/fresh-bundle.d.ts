// Types of bin/fresh-bundle.js for the TypeScript tests that ask it (the launcher and the bench are plain JS).
import type { Stats } from 'node:fs';

export const BUNDLE_HEAD: string;
export const BUNDLE_TAIL: string;
export function freshBundle(root: string): Stats | null;
