import type { MentionRecallInfo, Note, Preferences, ReminderEvent, ReminderFiredEvent, SightingInfo, TriggerInfo, UnknownSummary, WireMentionRecall, WireNote, WirePreferences, WireSighting, WireTrigger, WireUnknown } from '@familiar/contracts';
import type { Messages } from '@familiar/language';
import { ENGLISH, reminderSentence, timeAgo } from './grounded.ts';

/** Memory records (camelCase) → the protocol's snake_case payloads. */

export function toWireSighting(s: SightingInfo): WireSighting {
  return {
    id: s.id,
    concept_id: s.conceptId,
    name: s.name,
    camera_id: s.cameraId,
    room: s.room,
    first_seen: s.firstSeen,
    last_seen: s.lastSeen,
    box: { xmin: s.box.xmin, ymin: s.box.ymin, xmax: s.box.xmax, ymax: s.box.ymax },
    confidence: s.confidence,
    ongoing: s.ongoing,
    with_others: [...s.withOthers],
  };
}

export function toWireNote(n: Note): WireNote {
  return {
    id: n.id,
    concept_ids: [...n.conceptIds],
    speaker: n.speaker,
    text: n.text,
    at: n.at,
    ...(n.cameraId !== undefined && { camera_id: n.cameraId }),
    ...(n.room !== undefined && { room: n.room }),
    visibility: n.visibility ?? 'household',
  };
}

export function toWireMentionRecall(r: MentionRecallInfo): WireMentionRecall {
  const seen = r.speakerSeen;
  return {
    note: toWireNote(r.note),
    speaker_seen: seen ? { camera_id: seen.cameraId, room: seen.room, at: seen.at } : null,
    in_view: [...r.inView],
  };
}

export function toWireTrigger(t: TriggerInfo): WireTrigger {
  return {
    id: t.id,
    concept_id: t.conceptId,
    name: t.name,
    message: t.message,
    once: t.once,
    ...(t.room !== undefined && { room: t.room }),
    created_by: t.createdBy,
    created_at: t.createdAt,
    fired_count: t.firedCount,
    ...(t.lastFiredAt !== undefined && { last_fired_at: t.lastFiredAt }),
  };
}

export function toWirePreferences(p: Preferences): WirePreferences {
  const item = (a: Preferences['likes'][number]) => ({ text: a.text, source: a.source, at: a.at });
  return { concept_id: p.conceptId, likes: p.likes.map(item), dislikes: p.dislikes.map(item) };
}

function times(n: number, m: Messages): string {
  return m.t(n === 1 ? 'times.once' : n === 2 ? 'times.twice' : 'times.many', { n });
}

/** With its summary: "unknown-3, seen 4 times this week" (or, when not this week, how often and how long ago). */
export function toWireUnknown(u: UnknownSummary, now: number, m: Messages = ENGLISH): WireUnknown {
  const summary =
    u.visitsLast7Days > 0
      ? m.t('unknown.thisWeek', { id: u.id, times: times(u.visitsLast7Days, m) })
      : m.t('unknown.earlier', { id: u.id, times: times(u.visits, m), ago: timeAgo(u.lastSeen, now, m) });
  return {
    id: u.id,
    first_seen: u.firstSeen,
    last_seen: u.lastSeen,
    visits: u.visits,
    visits_last_7_days: u.visitsLast7Days,
    view_count: u.viewCount,
    ...(u.lastCameraId !== undefined && { last_camera_id: u.lastCameraId }),
    summary,
  };
}

/** The reminder as the protocol sends it (scene-subscription event, AskResult.reminders). */
export function toWireReminder(r: ReminderEvent, now: number, m: Messages = ENGLISH): ReminderFiredEvent {
  return {
    kind: 'reminder',
    trigger_id: r.triggerId,
    concept_id: r.conceptId,
    name: r.name,
    message: r.message,
    camera_id: r.cameraId,
    room: r.room,
    at: r.at,
    created_by: r.createdBy,
    text: reminderSentence(r, now, m),
  };
}
