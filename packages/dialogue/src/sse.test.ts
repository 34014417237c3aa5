import { describe, expect, it } from 'vitest';
import { SseParser, type SseEvent } from './sse.ts';

function parse(chunks: string[]): SseEvent[] {
  const out: SseEvent[] = [];
  const p = new SseParser((e) => out.push(e));
  for (const c of chunks) p.push(c);
  p.end();
  return out;
}

describe('SseParser', () => {
  it('dispatches data events on blank lines and ignores comments', () => {
    expect(parse([': keep-alive\n\n', 'data: {"a":1}\n\n', ':x\n', 'data: [DONE]\n\n']).map((e) => e.data)).toEqual(['{"a":1}', '[DONE]']);
  });

  it('joins multi-line data with \\n and keeps event names and ids', () => {
    const events = parse(['event: update\nid: 7\ndata: line one\ndata:line two\n\n']);
    expect(events).toEqual([{ event: 'update', id: '7', data: 'line one\nline two' }]);
  });

  it('handles CRLF, lone CR and CRLF split across chunks', () => {
    expect(parse(['data: a\r\n\r\ndata: b\r\rdata: c\r', '\n\r', '\n']).map((e) => e.data)).toEqual(['a', 'b', 'c']);
  });

  it('reassembles events split at any byte', () => {
    const text = 'data: {"choices":[{"delta":{"content":"héllo"}}]}\n\ndata: [DONE]\n\n';
    for (let cut = 1; cut < text.length; cut++) {
      expect(parse([text.slice(0, cut), text.slice(cut)]).map((e) => e.data)).toEqual(['{"choices":[{"delta":{"content":"héllo"}}]}', '[DONE]']);
    }
  });

  it('strips exactly one leading space, treats a field without colon as empty, discards an unterminated last event', () => {
    expect(parse(['data:  two spaces\n\ndata\n\ndata: tail']).map((e) => e.data)).toEqual([' two spaces', '']);
  });

  it('bounds the length of a line without a break', () => {
    const p = new SseParser(() => {}, 100);
    expect(() => p.push('data: ' + 'x'.repeat(200))).toThrow(RangeError);
  });
});
