import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@familiar/contracts';
import { REPO_ROOT } from '@familiar/config';

const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

describe('README', () => {
  it('documents every error code', () => {
    const missing = Object.keys(ERROR_CODES).filter((code) => !readme.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });

  it('gives the two set-up commands that .ci/run runs', () => {
    const ci = readFileSync(path.join(REPO_ROOT, '.ci/run'), 'utf8');
    const test = 'npm install -g pnpm@10.34.9 && pnpm install && pnpm test';
    expect(readme).toContain(test);
    expect(readme).toContain('npm install -g pnpm@10.34.9 && pnpm install && pnpm start');
    expect(ci).toContain(test);
  });
});
