import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROTOCOL_SCHEMA_FILE, protocolSchemaText } from './emit-schema.ts';

describe('published protocol schema', () => {
  it('config/protocol.schema.json matches the zod schemas (regenerate: npx tsx packages/dialogue/src/emit-schema.ts)', () => {
    const committed = readFileSync(PROTOCOL_SCHEMA_FILE, 'utf8');
    expect(committed).toBe(protocolSchemaText());
  });

  it('describes every command and server message', () => {
    const schema = JSON.parse(protocolSchemaText()) as { $defs: Record<string, { oneOf?: unknown[]; anyOf?: unknown[] }> };
    const text = JSON.stringify(schema.$defs.ClientCommand);
    for (const type of ['ping', 'status', 'concepts/list', 'concepts/enrol', 'concepts/update', 'concepts/forget', 'ask', 'ask/cancel', 'scene/subscribe', 'unsubscribe', 'camera/snapshot', 'concepts/thumbnail',
      'memory/last_seen', 'memory/sightings', 'notes/add', 'notes/list', 'memory/last_mention', 'triggers/add', 'triggers/list', 'triggers/cancel',
      'preferences/get', 'preferences/set', 'preferences/comment', 'concepts/correct', 'unknowns/list', 'unknowns/name', 'unknowns/dismiss']) {
      expect(text).toContain(`"const":"${type}"`);
    }
    const server = JSON.stringify(schema.$defs.ServerMessage);
    for (const type of ['auth_required', 'auth_ok', 'auth_invalid', 'result', 'event', 'pong']) expect(server).toContain(`"const":"${type}"`);
    expect(Object.keys(schema.$defs)).toContain('Result_ask');
    expect(Object.keys(schema.$defs)).toContain('ReminderFiredEvent');
    expect(JSON.stringify(schema.$defs.ServerMessage)).toContain('#/$defs/ReminderFiredEvent');
  });
});
