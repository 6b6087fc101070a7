// zod as this tool uses it. Every module that builds a schema imports z from here, so this runs
// before any schema is built (zod reads the setting then). jitless: zod compiles an object's parser
// with `new Function` on its first parse; ours run a few times per run (a suite once, a reply per
// request) and never get hot, where the compiled parser and its compile cost more than they save.
import { z } from 'zod';

z.config({ jitless: true });

export { z };
