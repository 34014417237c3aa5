import { describe, expect, it } from 'vitest';
import { clientSafeMessage, redactCredentials } from './redact.ts';

describe('redactCredentials', () => {
  it('removes URL credentials, bearer tokens and key parameters, and leaves other text alone', () => {
    expect(redactCredentials('cannot reach http://sam:hunter2@10.0.0.5:8080/v1: refused')).toBe('cannot reach http://***@10.0.0.5:8080/v1: refused');
    expect(redactCredentials('rtsp://admin:admin@cam.local/stream1')).toBe('rtsp://***@cam.local/stream1');
    expect(redactCredentials('Authorization: Bearer sk-abcdefghijklmnop')).toBe('Authorization: Bearer ***');
    expect(redactCredentials('GET /v1?api_key=abc123&x=1')).toBe('GET /v1?api_key=***&x=1');
    expect(redactCredentials('Billy is at http://10.0.0.5/v1 (no secret)')).toBe('Billy is at http://10.0.0.5/v1 (no secret)');
  });
});

describe('clientSafeMessage', () => {
  it('cuts absolute store paths to their file names, keeps URLs and relative names', () => {
    expect(clientSafeMessage('cannot write /home/sam/.familiar/store/notes.jsonl: ENOSPC')).toBe('cannot write notes.jsonl: ENOSPC');
    expect(clientSafeMessage('the store in /var/lib/familiar/store is closed')).toBe('the store in store is closed');
    expect(clientSafeMessage('"/srv/x/concepts/abc.json" is corrupt')).toBe('"abc.json" is corrupt');
    expect(clientSafeMessage('cannot reach the LVLM at http://127.0.0.1:8080/v1/chat/completions')).toBe('cannot reach the LVLM at http://127.0.0.1:8080/v1/chat/completions');
    expect(clientSafeMessage('unknown field "a/b"')).toBe('unknown field "a/b"');
    expect(clientSafeMessage('at most 2 asks in flight per connection')).toBe('at most 2 asks in flight per connection');
  });
});
