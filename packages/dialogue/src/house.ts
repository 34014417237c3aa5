import type { ConceptKind, ConceptSummary, NoteReaderInfo, TriggerInfo } from '@familiar/contracts';
import { type CategoryReference, type Messages, type Understanding } from '@familiar/language';
import type { CameraScene, DialogueBackend, SnapshotEntity } from './backend.ts';
import { kindCounts, lastSawSentence, safeName, sightingVisit, timeAgo, triggerCondition, type LastVisit } from './grounded.ts';
import { sanitiseText, PROMPT_LIMITS } from './prompt.ts';
import { memberKey, preferencesVisibleTo } from './reminders.ts';

/** Where a concept is right now: the camera that sees it. */
export interface Whereabouts {
  scene: CameraScene;
  entity: SnapshotEntity;
}

/**
 * Answers about the whole household from the live scene of every camera, then from memory: where someone is,
 * who is in a room, counts, the roster, today's visitors, notes, preferences and reminders. Deterministic; every
 * sentence from the message catalogue.
 */
export class HouseAnswers {
  constructor(
    private readonly backend: DialogueBackend,
    private readonly m: Messages,
  ) {}

  /** The live scene of every camera: the backend's own, else each camera's current view. */
  async scenes(): Promise<CameraScene[]> {
    if (this.backend.houseScene) return this.backend.houseScene();
    const ids = this.backend.cameras?.().map((c) => c.id) ?? [undefined];
    const out: CameraScene[] = [];
    for (const id of ids) {
      const view = await this.backend.currentView(id).catch(() => null);
      if (view) out.push({ cameraId: view.cameraId, room: view.room, capturedAt: view.capturedAt, entities: view.matches });
    }
    return out;
  }

  /** Room names of the configured cameras. */
  rooms(scenes: readonly CameraScene[]): string[] {
    return [...new Set([...(this.backend.cameras?.() ?? []).map((c) => c.room), ...scenes.map((s) => s.room)])];
  }

  /**
   * What a question about a species or category ("where is the cat?") needs said first: that the household has
   * none ("I don't know a cat in this household."), with the pets or objects whose description names no species,
   * or which ones it means when there are several ("I know 2 dogs: Billy and Rex."). '' when it means one.
   */
  categories(u: Understanding, concepts: readonly ConceptSummary[]): string {
    const names = (ids: readonly string[]) => namesOf(ids, concepts);
    const said = new Set<string>();
    const parts: string[] = [];
    for (const r of u.categories ?? []) {
      if (said.has(r.word) || r.conceptIds.length === 1) continue;
      said.add(r.word);
      if (r.conceptIds.length > 1) {
        parts.push(this.m.t('species.several', { n: r.conceptIds.length, plural: r.plural, names: this.m.list(names(r.conceptIds)) }));
        continue;
      }
      parts.push(this.m.t('species.none', { a: r.a }));
      const unclassified = names(r.unclassified);
      if (unclassified.length > 0) {
        parts.push(this.m.t(`species.unclassified.${unclassified.length === 1 ? 'one' : 'other'}`, { kind: this.m.t(`kind.${r.kind}.one`), names: this.m.list(unclassified) }));
      }
    }
    return parts.join(' ');
  }

  /** "The dog threw up" with two dogs enrolled: "Which dog do you mean: Billy or Rex?" */
  which(r: CategoryReference, concepts: readonly ConceptSummary[]): string {
    return this.m.t('species.which', { word: r.word, names: this.m.list(namesOf(r.conceptIds, concepts), 'list.or') });
  }

  static find(scenes: readonly CameraScene[], conceptId: string): Whereabouts | undefined {
    for (const scene of scenes) {
      const entity = scene.entities.find((e) => e.conceptId === conceptId);
      if (entity) return { scene, entity };
    }
    return undefined;
  }

  /** The concept's latest visit from memory (null when never seen or on memory trouble). */
  async lastVisit(conceptId: string): Promise<LastVisit | null> {
    try {
      const [visit] = await this.backend.sightings({ conceptId, limit: 1 });
      return visit ? sightingVisit(visit) : this.backend.lastSeen(conceptId);
    } catch {
      return null;
    }
  }

  private here(c: ConceptSummary, w: Whereabouts): string {
    return this.m.t('lastSeen.now', { name: safeName(c.name), room: safeName(w.scene.room), camera: safeName(w.scene.cameraId), details: '' });
  }

  private async absent(c: ConceptSummary, now: number, prefix: 'house.absent' | 'presence'): Promise<string> {
    const visit = await this.lastVisit(c.id);
    const name = safeName(c.name);
    if (!visit) return this.m.t(prefix === 'presence' ? 'presence.never' : 'house.absent.never', { name });
    return this.m.t(prefix === 'presence' ? 'presence.no' : 'house.absent.lastSaw', { name, lastSaw: lastSawSentence(c.name, visit, now, this.m) });
  }

  /** "Where is Billy?": the camera that sees it now, else where it was last seen. */
  async where(concepts: readonly ConceptSummary[], scenes: readonly CameraScene[], now: number, yesNo = false): Promise<string> {
    const parts: string[] = [];
    for (const c of concepts) {
      const w = HouseAnswers.find(scenes, c.id);
      if (w) parts.push(`${yesNo ? `${this.m.t('yes')} ` : ''}${this.here(c, w)}`);
      else if (!yesNo) parts.push(await this.absent(c, now, 'house.absent'));
      else {
        // "Have you seen Tom?": yes with the last sighting, or no.
        const visit = await this.lastVisit(c.id);
        parts.push(visit ? `${this.m.t('yes')} ${lastSawSentence(c.name, visit, now, this.m)}` : this.m.t('seen.never', { name: safeName(c.name) }));
      }
    }
    return parts.join(' ');
  }

  /** "Is Billy here?", "Is Anna in the kitchen?": yes / no with where it is or was. */
  async presence(concepts: readonly ConceptSummary[], u: Understanding, scenes: readonly CameraScene[], now: number): Promise<string> {
    const parts: string[] = [];
    for (const c of concepts) {
      const w = HouseAnswers.find(scenes, c.id);
      const name = safeName(c.name);
      if (!w) parts.push(await this.absent(c, now, 'presence'));
      else if (u.room && memberKey(u.room) !== memberKey(w.scene.room)) parts.push(this.m.t('presence.elsewhere', { name, asked: safeName(u.room), room: safeName(w.scene.room), camera: safeName(w.scene.cameraId) }));
      else parts.push(this.m.t('presence.yes', { name, room: safeName(w.scene.room), camera: safeName(w.scene.cameraId) }));
    }
    return parts.join(' ');
  }

  /** "Who is in the hallway?": the cameras of that room. */
  room(u: Understanding, scenes: readonly CameraScene[]): string {
    const rooms = this.rooms(scenes);
    if (u.room === undefined) {
      if (rooms.length === 0) return this.m.t('room.noCameras');
      return this.m.t('room.unknown', { asked: safeName(u.unknownRoom ?? ''), rooms: this.m.list(rooms.map(safeName)) });
    }
    const here = scenes.filter((s) => memberKey(s.room) === memberKey(u.room!));
    if (here.length === 0) return this.m.t('room.noFrame', { room: safeName(u.room) });
    return here
      .map((s) => {
        const names = s.entities.filter((e) => e.conceptId !== null && e.name).map((e) => safeName(e.name!));
        const where = { room: safeName(s.room), camera: safeName(s.cameraId) };
        return names.length > 0 ? this.m.t('room.who', { ...where, who: this.m.list([...new Set(names)]) }) : this.m.t('room.nobody', where);
      })
      .join(' ');
  }

  /** "How many pets do we have?" (enrolled) / "how many people are home right now?" (in view). */
  count(u: Understanding, concepts: readonly ConceptSummary[], scenes: readonly CameraScene[]): string {
    if (u.categories !== undefined && u.categories.length > 0) return this.countCategories(u.categories, u.now === true, concepts, scenes);
    const noun = u.kind ? this.m.t(`kind.${u.kind}.other`) : this.m.t('count.anything');
    const ofKind = (k: ConceptKind | null) => u.kind === undefined || k === u.kind;
    if (u.now) {
      const seen = new Map<string, { name: string; kind: ConceptKind; room: string }>();
      for (const s of scenes) for (const e of s.entities) if (e.conceptId && e.name && e.kind && ofKind(e.kind) && !seen.has(e.conceptId)) seen.set(e.conceptId, { name: e.name, kind: e.kind, room: s.room });
      const list = [...seen.values()];
      if (list.length === 0) return this.m.t('count.nowNone', { noun });
      return this.m.t('count.now', { counts: kindCounts(list.map((x) => x.kind), this.m), names: this.m.list(list.map((x) => `${safeName(x.name)} (${safeName(x.room)})`)) });
    }
    const known = concepts.filter((c) => ofKind(c.kind));
    if (known.length === 0) return this.m.t('count.knownNone', { noun });
    return this.m.t('count.known', { counts: kindCounts(known.map((c) => c.kind), this.m), names: this.m.list(known.map((c) => safeName(c.name))) });
  }

  /**
   * "How many dogs do we have?" (enrolled) / "how many dogs can you see?" (in view): the concepts of each
   * category counted, each under the first category that takes it, with the total when several are asked
   * ("how many dogs and cats"), the categories with none, and the pets whose description names no species.
   */
  private countCategories(refs: readonly CategoryReference[], now: boolean, concepts: readonly ConceptSummary[], scenes: readonly CameraScene[]): string {
    const byId = new Map(concepts.map((c) => [c.id, c]));
    const rooms = new Map<string, string>();
    if (now) for (const s of scenes) for (const e of s.entities) if (e.conceptId && byId.has(e.conceptId) && !rooms.has(e.conceptId)) rooms.set(e.conceptId, s.room);
    const taken = new Set<string>();
    const groups: Array<{ r: CategoryReference; ids: string[] }> = [];
    const empty: CategoryReference[] = [];
    for (const r of refs) {
      const ids = r.conceptIds.filter((id) => byId.has(id) && !taken.has(id) && (!now || rooms.has(id)));
      ids.forEach((id) => taken.add(id));
      if (ids.length > 0) groups.push({ r, ids });
      else if (!empty.some((e) => e.plural === r.plural)) empty.push(r);
    }
    const parts: string[] = [];
    if (groups.length > 0) {
      const counts = this.m.list(groups.map((g) => this.m.t('count', { n: g.ids.length, noun: g.ids.length === 1 ? g.r.word : g.r.plural })));
      const names = this.m.list(groups.flatMap((g) => g.ids.map((id) => safeName(byId.get(id)!.name) + (now ? ` (${safeName(rooms.get(id)!)})` : ''))));
      const total = groups.reduce((n, g) => n + g.ids.length, 0);
      const key = now ? (groups.length > 1 ? 'count.nowTotal' : 'count.now') : groups.length > 1 ? 'count.knownTotal' : 'count.known';
      parts.push(this.m.t(key, { n: total, counts, names }));
    }
    if (empty.length > 0) parts.push(this.m.t(now ? 'count.nowNone' : 'count.knownNone', { noun: this.m.list(empty.map((r) => r.plural), 'list.or') }));
    const unclassified = [...new Set(refs.flatMap((r) => r.unclassified))].filter((id) => byId.has(id) && (!now || rooms.has(id))).map((id) => byId.get(id)!);
    for (const kind of ['pet', 'object'] as const) {
      const names = unclassified.filter((c) => c.kind === kind).map((c) => safeName(c.name));
      if (names.length > 0) parts.push(this.m.t(`species.unclassified.${names.length === 1 ? 'one' : 'other'}`, { kind: this.m.t(`kind.${kind}.one`), names: this.m.list(names) }));
    }
    return parts.join(' ');
  }

  /** "Who lives here?" (everyone by kind) or "who is Billy?" (its kind and context, and where it is). */
  async roster(u: Understanding, concepts: readonly ConceptSummary[], named: readonly ConceptSummary[], scenes: readonly CameraScene[], now: number): Promise<string> {
    if (named.length > 0) {
      const parts: string[] = [];
      for (const c of named) {
        const context = sanitiseText(c.context, PROMPT_LIMITS.context);
        parts.push(this.m.t('about', { name: safeName(c.name), kind: this.m.t(`kind.${c.kind}.a`), context: context ? this.m.t('about.context', { context }) : '' }));
        parts.push(await this.where([c], scenes, now));
      }
      return parts.join(' ');
    }
    const groups = (['person', 'pet', 'object'] as const)
      .filter((k) => u.kind === undefined || k === u.kind)
      .map((k) => concepts.filter((c) => c.kind === k))
      .filter((list) => list.length > 0)
      .map((list) => this.m.t('roster.group', { counts: this.m.count(`kind.${list[0]!.kind}`, list.length), names: this.m.list(list.map((c) => safeName(c.name))) }));
    if (groups.length === 0) return this.m.t('roster.none');
    return this.m.t('roster.all', { groups: this.m.list(groups) });
  }

  /** "Who came by today?": every concept with a visit since midnight (local time), in a room when one is named. */
  async visitors(u: Understanding, now: number): Promise<string> {
    const midnight = new Date(now);
    midnight.setHours(0, 0, 0, 0);
    const visits = await this.backend.sightings({ since: midnight.getTime(), limit: 1000 });
    const latest = new Map<string, { name: string; room: string; at: number }>();
    for (const v of visits) {
      if (v.conceptId === null || !v.name) continue;
      if (u.room && memberKey(v.room) !== memberKey(u.room)) continue;
      const prev = latest.get(v.conceptId);
      if (!prev || v.lastSeen > prev.at) latest.set(v.conceptId, { name: v.name, room: v.room, at: v.lastSeen });
    }
    const who = [...latest.values()].sort((a, b) => b.at - a.at).map((v) => this.m.t('visitors.entry', { name: safeName(v.name), room: safeName(v.room), ago: timeAgo(v.at, now, this.m) }));
    if (who.length === 0) return u.room ? this.m.t('visitors.noneRoom', { room: safeName(u.room) }) : this.m.t('visitors.none');
    return u.room ? this.m.t('visitors.todayRoom', { room: safeName(u.room), who: this.m.list(who) }) : this.m.t('visitors.today', { who: this.m.list(who) });
  }

  /** "What did I say about Billy?": the newest notes about each named concept. */
  async notes(named: readonly ConceptSummary[], concepts: readonly ConceptSummary[], asker: ConceptSummary | undefined, askerName: string | undefined, now: number, reader?: NoteReaderInfo): Promise<string> {
    const parts: string[] = [];
    for (const c of named) {
      const notes = await this.backend.notes(c.id, PROMPT_LIMITS.notesPerConcept, reader).catch(() => []);
      if (notes.length === 0) {
        parts.push(this.m.t('notes.none', { name: safeName(c.name) }));
        continue;
      }
      const items = notes.map((n) => {
        const text = JSON.stringify(sanitiseText(n.text, PROMPT_LIMITS.note));
        const ago = timeAgo(n.at, now, this.m);
        if (n.speaker === null) return this.m.t('notes.itemAnon', { text, ago });
        const you = n.speaker === asker?.id || (askerName !== undefined && memberKey(n.speaker) === memberKey(askerName));
        const speaker = you ? this.m.t('notes.you') : safeName(concepts.find((x) => x.id === n.speaker)?.name ?? n.speaker);
        return this.m.t('notes.item', { speaker, text, ago });
      });
      parts.push(this.m.t('notes.about', { name: safeName(c.name), items: items.join('; ') }));
    }
    return parts.join(' ');
  }

  /** "What does Anna like?" */
  async preferences(named: readonly ConceptSummary[], reader?: NoteReaderInfo): Promise<string> {
    const parts: string[] = [];
    for (const c of named) {
      if (!preferencesVisibleTo(reader, c)) {
        parts.push(this.m.t('prefs.private', { name: safeName(c.name) }));
        continue;
      }
      const p = await this.backend.preferences(c.id).catch(() => null);
      const name = safeName(c.name);
      const list = (items: readonly { text: string }[]) => this.m.list(items.map((a) => JSON.stringify(sanitiseText(a.text, PROMPT_LIMITS.preference))));
      const sentences = [
        ...(p && p.likes.length > 0 ? [this.m.t('prefs.likes', { name, items: list(p.likes) })] : []),
        ...(p && p.dislikes.length > 0 ? [this.m.t('prefs.dislikes', { name, items: list(p.dislikes) })] : []),
      ];
      parts.push(sentences.length > 0 ? sentences.join(' ') : this.m.t('prefs.none', { name }));
    }
    return parts.join(' ');
  }

  /** The asker's active reminders (everyone's when the asker is unknown). */
  async reminders(owner: readonly string[]): Promise<string> {
    const mine = await this.ownTriggers(owner);
    if (mine.length === 0) return this.m.t('reminders.none');
    return this.m.t('reminders.list', { items: mine.map((t) => this.m.t('reminders.item', { condition: triggerCondition(t, this.m), message: JSON.stringify(sanitiseText(t.message, PROMPT_LIMITS.note)) })).join('; ') });
  }

  async ownTriggers(owner: readonly string[]): Promise<TriggerInfo[]> {
    const keys = new Set(owner.map(memberKey));
    const all = await this.backend.triggers();
    return keys.size === 0 ? all : all.filter((t) => keys.has(memberKey(t.createdBy)));
  }

  /** "Cancel the reminder about Tom's keys": the asker's reminder sharing the most words with the request. */
  async cancel(text: string, named: readonly ConceptSummary[], owner: readonly string[]): Promise<{ text: string; trigger?: TriggerInfo }> {
    const words = (s: string) => new Set(s.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? []);
    const asked = words(text);
    for (const w of ['cancel', 'delete', 'remove', 'forget', 'reminder', 'reminders', 'the', 'about', 'please', 'stop', 'drop', 'clear']) asked.delete(w);
    let best: { t: TriggerInfo; score: number } | undefined;
    for (const t of await this.ownTriggers(owner)) {
      let score = named.some((c) => c.id === t.conceptId) ? 2 : 0;
      for (const w of words(`${t.message} ${t.name} ${t.room ?? ''}`)) if (asked.has(w)) score++;
      if (score > 0 && (!best || score > best.score || (score === best.score && t.createdAt > best.t.createdAt))) best = { t, score };
    }
    if (!best) return { text: this.m.t('cancel.none') };
    const t = await this.backend.cancelTrigger(best.t.id);
    return { text: this.m.t('cancel.done', { condition: triggerCondition(t, this.m), message: JSON.stringify(sanitiseText(t.message, PROMPT_LIMITS.note)) }), trigger: t };
  }
}

/** The prompt-safe names of the concepts with these ids that are still enrolled, in the order of `ids`. */
function namesOf(ids: readonly string[], concepts: readonly ConceptSummary[]): string[] {
  const byId = new Map(concepts.map((c) => [c.id, c]));
  return ids.map((id) => byId.get(id)).filter((c) => c !== undefined).map((c) => safeName(c.name));
}
