import { describe, expect, it } from 'vitest';
import { snakeCaseKeys } from './casing.ts';

describe('snakeCaseKeys', () => {
  it('turns camelCase keys into snake_case at every depth and leaves values alone', () => {
    const bytes = new Uint8Array([1, 2]);
    expect(snakeCaseKeys({ uptimeS: 3, cameras: [{ lastFrameAt: null, failedFrames: 0, id: 'hall' }], mqtt: { inFlight: 1, state: 'connected' }, bytes, already_snake: 'camelCase' })).toEqual({
      uptime_s: 3,
      cameras: [{ last_frame_at: null, failed_frames: 0, id: 'hall' }],
      mqtt: { in_flight: 1, state: 'connected' },
      bytes,
      already_snake: 'camelCase',
    });
  });
});
