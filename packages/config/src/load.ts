import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { FamiliarError } from '@familiar/contracts';
import { FamiliarConfigSchema, type FamiliarConfig } from './schema.ts';
import { ModelsManifest } from './sections/models.ts';

/** The repository root: where config/ and devices/ live. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface LoadConfigOptions {
  /** Device profile name (a file devices/<profile>.yaml). Default: env FAMILIAR_PROFILE, else x86-dev. */
  profile?: string;
  /** Extra YAML file merged last. */
  file?: string;
  /** Overrides merged after everything (tests, CLI flags). */
  overrides?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

/** Loaded, validated and frozen configuration with its paths resolved to absolute ones. */
export interface ResolvedConfig extends FamiliarConfig {
  /** Absolute paths. */
  paths: { repoRoot: string; modelsDir: string; modelsManifest: string; storeDir: string };
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new FamiliarError('CONFIG_INVALID', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new FamiliarError('CONFIG_INVALID', `${file} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new FamiliarError('CONFIG_INVALID', `${file} must hold a mapping at the top level`);
  return doc as Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars from `over` replace those in `base`. */
function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? mergeConfig(prev, value) : value;
  }
  return out;
}

export function formatZodError(err: z.ZodError, source: string): string {
  return `${source}: ` + err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

function deepFreeze<T>(obj: T): T {
  if (obj && typeof obj === 'object') {
    for (const v of Object.values(obj)) deepFreeze(v);
    Object.freeze(obj);
  }
  return obj;
}

export function listProfiles(root = REPO_ROOT): string[] {
  const dir = path.join(root, 'devices');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

/**
 * config/default.yaml, then devices/<profile>.yaml, then an optional file, then overrides; validated once.
 * Env: FAMILIAR_PROFILE, FAMILIAR_MODELS_DIR, FAMILIAR_STORE_DIR.
 */
export function loadConfig(options: LoadConfigOptions = {}): ResolvedConfig {
  const env = options.env ?? process.env;
  const profile = options.profile ?? env.FAMILIAR_PROFILE ?? 'x86-dev';
  if (!/^[a-z0-9][a-z0-9-]*$/.test(profile)) throw new FamiliarError('CONFIG_INVALID', `invalid profile name "${profile}"`);
  const profileFile = path.join(REPO_ROOT, 'devices', `${profile}.yaml`);
  if (!existsSync(profileFile)) {
    throw new FamiliarError('CONFIG_INVALID', `unknown device profile "${profile}"; available: ${listProfiles().join(', ') || '(none)'}`);
  }
  let merged = readYaml(path.join(REPO_ROOT, 'config', 'default.yaml'));
  merged = mergeConfig(merged, readYaml(profileFile));
  merged = mergeConfig(merged, { device: { profile } });
  if (options.file) merged = mergeConfig(merged, readYaml(path.resolve(options.file)));
  if (options.overrides) merged = mergeConfig(merged, options.overrides);

  const parsed = FamiliarConfigSchema.safeParse(merged);
  if (!parsed.success) throw new FamiliarError('CONFIG_INVALID', formatZodError(parsed.error, `profile ${profile}`));
  const cfg = parsed.data;
  const resolve = (p: string) => (path.isAbsolute(p) ? p : path.resolve(REPO_ROOT, p));
  const resolved: ResolvedConfig = {
    ...cfg,
    paths: {
      repoRoot: REPO_ROOT,
      modelsDir: resolve(env.FAMILIAR_MODELS_DIR ?? cfg.models.dir),
      modelsManifest: resolve(cfg.models.manifest),
      storeDir: resolve(env.FAMILIAR_STORE_DIR ?? cfg.store.dir),
    },
  };
  return deepFreeze(resolved);
}

/** Reads and validates the models manifest. */
export function loadModelsManifest(file: string): ModelsManifest {
  const parsed = ModelsManifest.safeParse(readYaml(file));
  if (!parsed.success) throw new FamiliarError('CONFIG_INVALID', formatZodError(parsed.error, file));
  return parsed.data;
}
