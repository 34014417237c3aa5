import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_SCHEMA_FILE, configSchemaText, MODELS_SCHEMA_FILE, modelsSchemaText } from './emit-schema.ts';

describe('published configuration schemas', () => {
  it('config/runtime.schema.json and config/models.schema.json are up to date (npx tsx packages/config/src/emit-schema.ts)', () => {
    expect(readFileSync(CONFIG_SCHEMA_FILE, 'utf8')).toBe(configSchemaText());
    expect(readFileSync(MODELS_SCHEMA_FILE, 'utf8')).toBe(modelsSchemaText());
  });

  it('describes every configuration field', () => {
    const undescribed: string[] = [];
    const walk = (node: Record<string, unknown>, at: string): void => {
      const props = node.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [key, child] of Object.entries(props ?? {})) {
        const where = `${at}.${key}`;
        const isObject = child.type === 'object' || (child.type === 'array' && (child.items as Record<string, unknown> | undefined)?.type === 'object');
        if (!child.description && !isObject) undescribed.push(where);
        walk(child, where);
        if (child.items) walk(child.items as Record<string, unknown>, `${where}[]`);
      }
    };
    walk(JSON.parse(configSchemaText()), '');
    expect(undescribed).toEqual([]);
  });
});
