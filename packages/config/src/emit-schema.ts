/**
 * Writes config/runtime.schema.json (for YAML editors and the README) from the zod config schema:
 *   npx tsx packages/config/src/emit-schema.ts
 * emit-schema.test.ts fails when the committed file is out of date.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { REPO_ROOT } from './load.ts';
import { FamiliarConfigSchema } from './schema.ts';
import { ModelsManifest } from './sections/models.ts';

export const CONFIG_SCHEMA_FILE = path.join(REPO_ROOT, 'config', 'runtime.schema.json');
export const MODELS_SCHEMA_FILE = path.join(REPO_ROOT, 'config', 'models.schema.json');

export function configSchemaText(): string {
  return `${JSON.stringify(z.toJSONSchema(FamiliarConfigSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`;
}

export function modelsSchemaText(): string {
  return `${JSON.stringify(z.toJSONSchema(ModelsManifest, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIG_SCHEMA_FILE, configSchemaText());
  writeFileSync(MODELS_SCHEMA_FILE, modelsSchemaText());
  process.stdout.write(`wrote ${path.relative(REPO_ROOT, CONFIG_SCHEMA_FILE)} and ${path.relative(REPO_ROOT, MODELS_SCHEMA_FILE)}\n`);
}
