// The JSON Schema of run.json, generated from the zod schema (the single source) and committed as
// run.schema.json beside this file for consumers that do not run TypeScript; a test keeps it current.
import { z } from '../zod.js';
import { RUN_SCHEMA_VERSION, RunResultSchema } from '../model/run.js';

export const RUN_JSON_SCHEMA_FILE = 'run.schema.json';

/** What a valid run.json file must satisfy (input side: fields with defaults may be absent). */
export function runJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(RunResultSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: `https://hotunplug-ci.invalid/schemas/run-v${RUN_SCHEMA_VERSION}.json`,
    title: `hotunplug-ci run.json v${RUN_SCHEMA_VERSION}`,
    ...schema,
  };
}

export function runJsonSchemaText(): string {
  return `${JSON.stringify(runJsonSchema(), null, 2)}\n`;
}
