import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FamiliarError } from '@familiar/contracts';

/**
 * Every built-in sentence Familiar says comes from one message catalogue: messages/<language>.json, a flat map
 * of keys to templates with {placeholders}. A translation is one more file: a key it lacks falls back to the
 * English sentence, so a partial translation still answers everything.
 */

/** Where the catalogues live (one JSON file per language). */
const MESSAGES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'messages');

export type MessageParams = Readonly<Record<string, string | number>>;

export class Messages {
  readonly language: string;
  readonly #table: Readonly<Record<string, string>>;
  readonly #fallback: Readonly<Record<string, string>>;

  constructor(language: string, table: Readonly<Record<string, string>>, fallback: Readonly<Record<string, string>> = table) {
    this.language = language;
    this.#table = table;
    this.#fallback = fallback;
  }

  /** The sentence for `key` with its {placeholders} filled in. An unknown key is a programming error (INTERNAL). */
  t(key: string, params: MessageParams = {}): string {
    const template = this.#table[key] ?? this.#fallback[key];
    if (template === undefined) throw new FamiliarError('INTERNAL', `no message "${key}" in the ${this.language} catalogue`);
    return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
  }

  /** "{n} {noun}" with the catalogue's singular (`key.one`) or plural (`key.other`) noun. */
  count(key: string, n: number): string {
    return this.t('count', { n, noun: this.t(`${key}.${n === 1 ? 'one' : 'other'}`) });
  }

  /** "A, B and C" (or, with `last` 'list.or', "A, B or C") with the catalogue's separators. */
  list(items: readonly string[], last: 'list.last' | 'list.or' = 'list.last'): string {
    if (items.length <= 1) return items.join('');
    return `${items.slice(0, -1).join(this.t('list.separator'))}${this.t(last)}${items.at(-1)}`;
  }
}

function readCatalogue(language: string): Record<string, string> {
  if (!/^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$/.test(language)) throw new FamiliarError('INPUT_INVALID', `"${language}" is not a language code such as "en" or "de"`);
  let raw: string;
  try {
    raw = readFileSync(path.join(MESSAGES_DIR, `${language}.json`), 'utf8');
  } catch (cause) {
    throw new FamiliarError('INPUT_INVALID', `there is no message catalogue for "${language}" (messages/${language}.json)`, { cause });
  }
  const parsed: unknown = JSON.parse(raw);
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || Object.values(parsed).some((v) => typeof v !== 'string')) {
    throw new FamiliarError('INPUT_INVALID', `messages/${language}.json must map keys to strings`);
  }
  return parsed as Record<string, string>;
}

const cache = new Map<string, Messages>();

/** The catalogue of a language (read once), English filling what it lacks. */
export function loadMessages(language = 'en'): Messages {
  let m = cache.get(language);
  if (!m) {
    const english = language === 'en' ? undefined : loadMessages('en');
    const table = readCatalogue(language);
    m = new Messages(language, table, english ? { ...readCatalogue('en'), ...table } : table);
    cache.set(language, m);
  }
  return m;
}
