import { FamiliarError } from '@familiar/contracts';
import {
  lastMentionAnswer,
  lastSeenAnswer,
  timeAgo,
  toWireConcept,
  toWireMentionRecall,
  toWireNote,
  toWirePreferences,
  toWireSighting,
  toWireTrigger,
  toWireUnknown,
  triggerConfirmation,
} from '@familiar/dialogue';
import type { Household } from '@familiar/runtime';

/** A memory command of the CLI, over a household opened read-only or as the store's writer. */
export interface MemoryCommand {
  /** Whether these arguments only read (then the store opens beside a running runtime). */
  readOnly(args: readonly string[]): boolean;
  /** Returns what `--json` prints: the WebSocket's snake_case shapes. */
  run(h: Household, args: readonly string[], opts: MemoryCommandOptions): Promise<unknown>;
}

export interface MemoryCommandOptions {
  json: boolean;
  /** --name / --context / --by values where the command takes them. */
  name?: string;
  context?: string;
  by?: string;
  print: (line: string) => void;
}

const when = (at: number): string => `${new Date(at).toISOString()} (${timeAgo(at, Date.now())})`;

function oneArg(args: readonly string[], what: string): string {
  if (args.length !== 1) throw new FamiliarError('INPUT_INVALID', `${what} needs exactly one NAME or ID`);
  return args[0]!;
}

/**
 * `familiar last-seen|notes|remind|triggers|preferences|unknowns …`. Writers (remind, cancel, naming an unknown)
 * need the store's lock, so they fail with STORE_IO while `familiar start` runs; use the WebSocket commands then.
 */
export const MEMORY_COMMANDS: Readonly<Record<string, MemoryCommand>> = {
  'last-seen': {
    readOnly: () => true,
    async run(h, args, o) {
      const concepts = args.length === 0 ? h.core.list() : [h.core.resolve(oneArg(args, 'last-seen'))];
      const now = Date.now();
      const rows = concepts.map((c) => {
        const s = h.lastSeen(c.id);
        return { concept_id: c.id, name: c.name, sighting: s ? toWireSighting(s) : null, answer: lastSeenAnswer(c.name, s, now) };
      });
      if (o.json) return rows;
      if (rows.length === 0) o.print('nobody and nothing enrolled yet');
      for (const r of rows) o.print(r.answer);
      return rows;
    },
  },
  notes: {
    readOnly: () => true,
    async run(h, args, o) {
      const concept = h.core.resolve(oneArg(args, 'notes'));
      const notes = h.notes(concept.id, 50);
      const recall = h.lastMention(concept.id);
      const wire = { notes: notes.map(toWireNote), last_mention: recall ? toWireMentionRecall(recall) : null };
      if (o.json) return wire;
      if (notes.length === 0) o.print(`nothing said about ${concept.name} yet`);
      for (const n of notes) o.print(`${when(n.at)} ${n.speaker ?? 'someone'}: ${n.text}`);
      if (recall) o.print(lastMentionAnswer(concept.name, recall, recall.note.speaker, false, Date.now()));
      return wire;
    },
  },
  remind: {
    readOnly: () => false,
    async run(h, args, o) {
      if (args.length === 0) throw new FamiliarError('INPUT_INVALID', 'remind needs the request, e.g. "if Anna shows up, remind me to call the doctor"');
      const t = await h.addTrigger({ text: args.join(' '), createdBy: o.by ?? 'cli' });
      if (!o.json) o.print(`${triggerConfirmation(t)} (${t.id})`);
      return toWireTrigger(t);
    },
  },
  triggers: {
    readOnly: (args) => args.length === 0,
    async run(h, args, o) {
      if (args[0] === 'cancel') {
        const t = await h.cancelTrigger(oneArg(args.slice(1), 'triggers cancel'));
        if (!o.json) o.print(`cancelled ${t.id}: when ${t.name} shows up — ${t.message}`);
        return toWireTrigger(t);
      }
      if (args.length > 0) throw new FamiliarError('INPUT_INVALID', 'triggers takes no argument, or: triggers cancel ID');
      const list = h.triggers();
      if (o.json) return list.map(toWireTrigger);
      if (list.length === 0) o.print('no reminders set');
      for (const t of list)
        o.print(`${t.id} when ${t.name} shows up${t.room ? ` in the ${t.room}` : ''} (${t.once ? 'once' : 'every time'}, by ${t.createdBy}, fired ${t.firedCount}×): ${t.message}`);
      return list.map(toWireTrigger);
    },
  },
  preferences: {
    readOnly: () => true,
    async run(h, args, o) {
      const concept = h.core.resolve(oneArg(args, 'preferences'));
      const p = h.preferences(concept.id);
      if (o.json) return toWirePreferences(p);
      o.print(`${concept.name} likes: ${p.likes.map((a) => a.text).join('; ') || '—'}`);
      o.print(`${concept.name} dislikes: ${p.dislikes.map((a) => a.text).join('; ') || '—'}`);
      return toWirePreferences(p);
    },
  },
  unknowns: {
    readOnly: (args) => args.length === 0,
    async run(h, args, o) {
      const [sub, id, ...rest] = args;
      if (sub === 'name') {
        if (!id || rest.length > 0 || !o.name) throw new FamiliarError('INPUT_INVALID', 'unknowns name needs an ID and --name NAME');
        const c = await h.nameUnknown(id, { name: o.name, context: o.context ?? '' });
        if (!o.json) o.print(`${id} is now "${c.name}" (${c.id}), enrolled from ${c.viewCount} view(s)`);
        return toWireConcept(c);
      }
      if (sub === 'dismiss') {
        if (!id || rest.length > 0) throw new FamiliarError('INPUT_INVALID', 'unknowns dismiss needs an ID');
        await h.dismissUnknown(id);
        if (!o.json) o.print(`dismissed ${id} and its views`);
        return { unknown_id: id };
      }
      if (sub !== undefined) throw new FamiliarError('INPUT_INVALID', 'unknowns takes no argument, or: unknowns name ID --name NAME | unknowns dismiss ID');
      const list = h.unknowns();
      if (o.json) return list.map((u) => toWireUnknown(u, Date.now()));
      if (list.length === 0) o.print('no unknown visitors');
      for (const u of list) o.print(`${u.id}: seen ${u.visitsLast7Days} time(s) this week, ${u.visits} in all, last ${when(u.lastSeen)}${u.lastCameraId ? ` on ${u.lastCameraId}` : ''}`);
      return list.map((u) => toWireUnknown(u, Date.now()));
    },
  },
};
