import type { ConceptSummary, NoteReaderInfo, ReminderEvent } from '@familiar/contracts';
import { mentionsAny } from '@familiar/language';

/** Who a reminder or a member is, compared case-, width- and surrounding-space-insensitively. */
export function memberKey(name: string): string {
  return name.normalize('NFKC').trim().toLowerCase();
}

/**
 * Whether `reader` may read `person`'s preferences: everyone's for the control role (no reader), otherwise only
 * the reader's own member's.
 */
export function preferencesVisibleTo(reader: NoteReaderInfo | undefined, person: Pick<ConceptSummary, 'name'>): boolean {
  return reader === undefined || (reader.member !== null && memberKey(reader.member) === memberKey(person.name));
}

/** The enrolled person a member name refers to. */
export function personNamed(concepts: readonly ConceptSummary[], member: string | undefined): ConceptSummary | undefined {
  if (!member) return undefined;
  const key = memberKey(member);
  return concepts.find((c) => c.kind === 'person' && memberKey(c.name) === key);
}

export interface ReminderInboxOptions {
  /** Reminders kept per member (the oldest dropped first). */
  maxPerMember?: number;
  /** Members with waiting reminders (the member who waited longest dropped first). */
  maxMembers?: number;
  /** A reminder not delivered within this long is dropped: it is no longer news. */
  maxAgeMs?: number;
  /** Called with every waiting reminder after each change (to persist them). */
  onChange?: (all: ReminderEvent[]) => void;
  now?: () => number;
}

/**
 * Fired reminders waiting to be included in their creator's next answer, bounded on every axis. Kept in
 * memory; with `onChange` (the server's ReminderInboxFile) they also survive a restart.
 */
export class ReminderInbox {
  private readonly waiting = new Map<string, ReminderEvent[]>();
  private readonly maxPerMember: number;
  private readonly maxMembers: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;
  private readonly onChange: ((all: ReminderEvent[]) => void) | undefined;

  constructor(options: ReminderInboxOptions = {}) {
    this.maxPerMember = options.maxPerMember ?? 10;
    this.maxMembers = options.maxMembers ?? 256;
    this.maxAgeMs = options.maxAgeMs ?? 24 * 3600_000;
    this.now = options.now ?? Date.now;
    this.onChange = options.onChange;
  }

  add(r: ReminderEvent): void {
    this.insert(r);
    this.changed();
  }

  /** Every waiting reminder, oldest first. */
  all(): ReminderEvent[] {
    return [...this.waiting.values()].flat().sort((a, b) => a.at - b.at);
  }

  /** Puts back what a previous run left waiting (no change notification: it is already stored). */
  load(reminders: readonly ReminderEvent[]): void {
    const oldest = this.now() - this.maxAgeMs;
    for (const r of reminders) if (r.at >= oldest) this.insert(r);
  }

  /** Drops every waiting reminder about a forgotten concept (by id, or naming it). */
  forget(conceptId: string, names: readonly string[]): void {
    let dropped = 0;
    for (const [key, list] of this.waiting) {
      const keep = list.filter((r) => r.conceptId !== conceptId && !mentionsAny(r.message, names) && !mentionsAny(r.name, names) && !mentionsAny(r.createdBy, names));
      dropped += list.length - keep.length;
      if (keep.length === 0) this.waiting.delete(key);
      else this.waiting.set(key, keep);
    }
    if (dropped > 0) this.changed();
  }

  private changed(): void {
    this.onChange?.(this.all());
  }

  private insert(r: ReminderEvent): void {
    const key = memberKey(r.createdBy);
    const list = this.waiting.get(key) ?? [];
    this.waiting.delete(key);
    list.push(r);
    if (list.length > this.maxPerMember) list.splice(0, list.length - this.maxPerMember);
    this.waiting.set(key, list);
    while (this.waiting.size > this.maxMembers) this.waiting.delete(this.waiting.keys().next().value!);
  }

  /** Removes and returns, oldest first, the fresh reminders for any of these names / ids of one member. */
  take(who: readonly string[]): ReminderEvent[] {
    const oldest = this.now() - this.maxAgeMs;
    const out: ReminderEvent[] = [];
    for (const key of new Set(who.map(memberKey))) {
      const list = this.waiting.get(key);
      if (!list) continue;
      this.waiting.delete(key);
      out.push(...list.filter((r) => r.at >= oldest));
    }
    if (out.length > 0) this.changed();
    return out.sort((a, b) => a.at - b.at);
  }

  /** Puts reminders back that an answer which then failed would have delivered. */
  restore(reminders: readonly ReminderEvent[]): void {
    for (const r of reminders) this.insert(r);
    if (reminders.length > 0) this.changed();
  }

  size(): number {
    let n = 0;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }
}

/**
 * Where waiting reminders are kept across restarts (the runtime stores them in a checksummed file next to the
 * rest of memory). `save` may coalesce writes; `flush` resolves once everything requested is stored.
 */
export interface ReminderInboxStore {
  load(): Promise<ReminderEvent[]>;
  save(all: ReminderEvent[]): void;
  flush(): Promise<void>;
}
