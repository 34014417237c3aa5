import type { ConceptSummary, NoteReaderInfo, ReminderEvent } from '@familiar/contracts';

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
  now?: () => number;
}

/**
 * Fired reminders waiting to be included in their creator's next answer. In memory only (a restart loses
 * them; the scene-subscription event was the live delivery) and bounded on every axis.
 */
export class ReminderInbox {
  private readonly waiting = new Map<string, ReminderEvent[]>();
  private readonly maxPerMember: number;
  private readonly maxMembers: number;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(options: ReminderInboxOptions = {}) {
    this.maxPerMember = options.maxPerMember ?? 10;
    this.maxMembers = options.maxMembers ?? 256;
    this.maxAgeMs = options.maxAgeMs ?? 24 * 3600_000;
    this.now = options.now ?? Date.now;
  }

  add(r: ReminderEvent): void {
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
    return out.sort((a, b) => a.at - b.at);
  }

  /** Puts reminders back that an answer which then failed would have delivered. */
  restore(reminders: readonly ReminderEvent[]): void {
    for (const r of reminders) this.add(r);
  }

  size(): number {
    let n = 0;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }
}
