/**
 * Writes config/protocol.schema.json from the zod protocol schemas:
 *   npx tsx packages/dialogue/src/emit-schema.ts
 * protocol-schema.test.ts fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '@familiar/config';
import { protocolJsonSchema } from './schema.ts';

/** Where the published schema lives, and its exact text. */
export const PROTOCOL_SCHEMA_FILE = path.join(REPO_ROOT, 'config', 'protocol.schema.json');

export function protocolSchemaText(): string {
  return `${JSON.stringify(protocolJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(PROTOCOL_SCHEMA_FILE, protocolSchemaText());
  process.stdout.write(`wrote ${path.relative(REPO_ROOT, PROTOCOL_SCHEMA_FILE)}\n`);
}
