import { describe, expect, it } from 'vitest';
import { FamiliarError } from '@familiar/contracts';
import { listProfiles, loadConfig, loadModelsManifest } from './load.ts';

describe('loadConfig', () => {
  it('loads the embedded defaults with every section filled in', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.device.profile).toBe('x86-dev');
    expect(cfg.inference.providers).toEqual(['cpu']);
    expect(cfg.paths.modelsDir.endsWith('shared/models')).toBe(true);
    expect(Object.isFrozen(cfg.recognition)).toBe(true);
  });

  it('ships the required device profiles, and each validates', () => {
    const names = listProfiles();
    for (const p of ['x86-dev', 'x86-cuda', 'jetson-orin-nano', 'jetson-agx-orin', 'ci']) expect(names).toContain(p);
    for (const p of names) expect(() => loadConfig({ profile: p, env: {} })).not.toThrow();
  });

  it('rejects unknown keys and says where', () => {
    const err = catchErr(() => loadConfig({ env: {}, overrides: { recognition: { detectorScoree: 0.3 } } }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/recognition/);
  });

  it('refuses a GPU provider with the stock arm64 runtime and says what to build', () => {
    const err = catchErr(() => loadConfig({ profile: 'jetson-orin-nano', env: {}, overrides: { inference: { providers: ['cuda', 'cpu'] } } }));
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toMatch(/CPU-only/);
    expect(err.message).toMatch(/--use_cuda/);
  });

  it('lets the environment move the models and store directories', () => {
    const cfg = loadConfig({ env: { FAMILIAR_MODELS_DIR: '/opt/models', FAMILIAR_STORE_DIR: '/var/lib/familiar' } });
    expect(cfg.paths.modelsDir).toBe('/opt/models');
    expect(cfg.paths.storeDir).toBe('/var/lib/familiar');
  });

  it('names an unknown profile and the available ones', () => {
    expect(catchErr(() => loadConfig({ profile: 'toaster', env: {} })).message).toMatch(/x86-dev/);
  });

  it('reads the models manifest', () => {
    const m = loadModelsManifest(loadConfig({ env: {} }).paths.modelsManifest);
    expect(m.models.detector.input.width).toBe(416);
  });
});

function catchErr(fn: () => unknown): FamiliarError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FamiliarError) return e;
    throw e;
  }
  throw new Error('expected a FamiliarError');
}
