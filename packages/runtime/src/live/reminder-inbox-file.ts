import type { Logger, ReminderEvent } from '@familiar/contracts';
import type { ReminderInboxStore } from '@familiar/dialogue';
import { quarantineFile, readVerified, writeVerified } from '@familiar/memory';

const INBOX_SPEC = { format: 'familiar.reminder-inbox', version: 1 };

function isReminderEvent(v: unknown): v is ReminderEvent {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return ['triggerId', 'conceptId', 'name', 'message', 'cameraId', 'room', 'createdBy'].every((k) => typeof r[k] === 'string') && Number.isFinite(r.at);
}

/**
 * Reminders that fired but still wait for their member's next answer, on disk (checksummed, replaced
 * atomically like every memory file), so they survive a restart. Writes run one at a time, the newest state
 * winning; a file that does not verify is quarantined and the inbox starts empty.
 */
export class ReminderInboxFile implements ReminderInboxStore {
  #latest: ReminderEvent[] | null = null;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly log: Logger = () => undefined,
  ) {}

  async load(): Promise<ReminderEvent[]> {
    try {
      const payload = await readVerified(this.file, INBOX_SPEC);
      return Array.isArray(payload) ? payload.filter(isReminderEvent) : [];
    } catch (err) {
      const corrupt = (err as { code?: string }).code === 'STORE_CORRUPT';
      this.log('warn', corrupt ? 'reminder inbox corrupt; quarantined, starting empty' : 'reminder inbox unreadable; starting empty', { error: (err as Error).message });
      if (corrupt) await quarantineFile(this.file).catch(() => undefined);
      return [];
    }
  }

  /** Stores `all`; while a write runs only the newest state waits for the next one. */
  save(all: ReminderEvent[]): void {
    const idle = this.#latest === null;
    this.#latest = all;
    if (!idle) return;
    this.#writing = this.#writing.then(async () => {
      const state = this.#latest!;
      this.#latest = null;
      try {
        await writeVerified(this.file, INBOX_SPEC, state);
      } catch (err) {
        this.log('warn', 'reminder inbox not saved', { error: (err as Error).message });
      }
    });
  }

  async flush(): Promise<void> {
    while (this.#latest !== null) await this.#writing;
    await this.#writing;
  }
}
