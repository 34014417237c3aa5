/**
 * The question set (questions.json) over a scripted household in the real runtime: `familiar start` with four
 * replay cameras and no LVLM. Phase 1 enrols the household over the WebSocket and lets every camera see its
 * member (Tom is in the garden); phase 2 restarts Familiar over the same store with the garden camera showing
 * an empty room, so Tom is remembered but not in view. Then Sam (a control token bound to the member Sam) asks
 * every question in order and each answer is scored against its expected intent and facts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startFamiliar, waitUntil, type FamiliarProcess } from '../support/familiar-process.ts';
import { dataBase64, dataFile } from '../support/static-backend.ts';
import { ok, TestClient } from '../support/ws-client.ts';

export interface Question {
  id: string;
  kind: string;
  question: string;
  intent: string;
  /** Each must appear in the answer (case-insensitive); "a|b" = either. */
  facts: string[];
  forbid?: string[];
  /** Asked in the conversation the question with this id started. */
  conversation?: string;
  /** Asked by this member's token instead of Sam's. */
  as?: 'Anna';
}

export interface QuestionOutcome {
  id: string;
  kind: string;
  question: string;
  answer: string;
  /** The intent the result reported (absent where the runtime reports none). */
  intent: string | null;
  correct: boolean;
  why: string[];
}

export interface QuestionReport {
  total: number;
  correct: number;
  score: number;
  byKind: Record<string, { total: number; correct: number }>;
  outcomes: QuestionOutcome[];
}

const TOKEN = 'question-set-token-0123456789';
const ANNA_TOKEN = 'question-set-anna-token-0123456789';

async function loadQuestions(): Promise<Question[]> {
  const file = path.join(import.meta.dirname, 'questions.json');
  return (JSON.parse(await readFile(file, 'utf8')) as { questions: Question[] }).questions;
}

/** Scores one answer: every fact present, nothing forbidden, and the intent when the runtime reports one. */
function scoreAnswer(q: Question, answer: string, intent: string | null): { correct: boolean; why: string[] } {
  const text = answer.toLowerCase();
  const why: string[] = [];
  for (const fact of q.facts) if (!fact.split('|').some((alt) => text.includes(alt.toLowerCase()))) why.push(`missing "${fact}"`);
  for (const bad of q.forbid ?? []) if (text.includes(bad.toLowerCase())) why.push(`says "${bad}"`);
  if (intent !== null && intent !== q.intent) why.push(`intent ${intent}, expected ${q.intent}`);
  return { correct: why.length === 0, why };
}

interface Member {
  name: string;
  kind: 'person' | 'pet' | 'object';
  context: string;
  photos: string[];
}

const face = (who: string, n: number[]) => n.map((i) => `faces_5celeb/train/${who}/${i}.jpg`);
const HOUSEHOLD: Member[] = [
  { name: 'Sam', kind: 'person', context: 'the dad', photos: face('Ben Afflek', [1, 2, 3]) },
  { name: 'Anna', kind: 'person', context: 'my daughter, 12', photos: face('Madonna', [1, 2, 3]) },
  { name: 'Tom', kind: 'person', context: 'my son, 16', photos: face('Jerry Seinfield', [1, 2, 3]) },
  { name: 'Billy', kind: 'pet', context: 'our cavalier king charles spaniel, not allowed on the sofa', photos: ['myvlm/billy_dog/billy_dog_1.jpg', 'myvlm/billy_dog/billy_dog_2.jpg', 'myvlm/billy_dog/billy_dog_3.jpg'] },
  { name: 'Mochi', kind: 'pet', context: 'the tabby cat', photos: ['myvlm/my_cat/my_cat_1.jpeg', 'myvlm/my_cat/my_cat_2.jpeg', 'myvlm/my_cat/my_cat_3.jpg'] },
  { name: 'Piggy', kind: 'object', context: 'the red piggy bank with the holiday money', photos: ['myvlm/red_piggy_bank/red_piggy_bank_1.jpg', 'myvlm/red_piggy_bank/red_piggy_bank_2.jpg'] },
];

/** Each camera replays one photo of its member over and over (a still scene). */
function config(garden: string): string {
  const cam = (id: string, room: string, file: string) => `  - { id: ${id}, room: ${room}, fps: 2, source: { kind: replay, uri: "${dataFile(file)}" } }`;
  return [
    'server:',
    '  port: 0',
    // Answers from memory come back within milliseconds: the questions are asked back to back.
    '  commandsPerSecond: 1000',
    '  tokens:',
    `    - { name: sam-phone, role: control, token: ${TOKEN}, member: Sam }`,
    `    - { name: anna-tablet, role: viewer, token: ${ANNA_TOKEN}, member: Anna }`,
    'cameras:',
    cam('living', 'living room', 'myvlm/billy_dog/billy_dog_1.jpg'),
    cam('kitchen', 'kitchen', 'myvlm/my_cat/my_cat_2.jpeg'),
    cam('hall', 'hallway', 'faces_5celeb/train/Madonna/1.jpg'),
    cam('garden', 'garden', garden),
  ].join('\n');
}

/** Waits until each camera's snapshot shows its member (polled: a still scene sends its events only once, maybe before we listen). */
async function waitForScene(client: TestClient, expected: Record<string, string>, what: string, familiar: FamiliarProcess): Promise<void> {
  const seen = new Map<string, string[]>();
  await waitUntil(
    async () => {
      for (const camera of Object.keys(expected)) {
        const ex = await client.request<{ entities: { name: string | null }[] }>({ type: 'camera/snapshot', camera_id: camera }, 60_000);
        seen.set(camera, ex.result.success ? ex.result.result.entities.map((e) => e.name ?? '?') : []);
      }
      return Object.entries(expected).every(([camera, name]) => seen.get(camera)!.includes(name));
    },
    300_000,
    what,
    () => `seen ${JSON.stringify(Object.fromEntries(seen))}; ${familiar.stderr().slice(-600)}`,
    1000,
  );
}

export async function runQuestionSet(dir: string, log: (line: string) => void = () => {}): Promise<QuestionReport> {
  const store = path.join(dir, 'store');
  const configFile = path.join(dir, 'household.yaml');

  // Phase 1: enrol everyone; every camera sees its member, Tom in the garden.
  await writeFile(configFile, config('faces_5celeb/train/Jerry Seinfield/1.jpg'));
  let familiar = await startFamiliar({ configFile, store, timeoutMs: 120_000 });
  try {
    const client = await TestClient.connect(familiar.url, TOKEN);
    for (const m of HOUSEHOLD) {
      const photos = await Promise.all(m.photos.map(dataBase64));
      ok(await client.request({ type: 'concepts/enrol', name: m.name, kind: m.kind, context: m.context, photos }, 180_000));
      log(`enrolled ${m.name}`);
    }
    await waitForScene(client, { living: 'Billy', kitchen: 'Mochi', hall: 'Anna', garden: 'Tom' }, 'the household in view (phase 1)', familiar);
    client.ws.close();
  } finally {
    await familiar.stop();
  }

  // Phase 2: the garden is empty now; Tom is remembered, not seen.
  await writeFile(configFile, config('distractors/scenes/nyu/11_image.png'));
  familiar = await startFamiliar({ configFile, store, timeoutMs: 120_000 });
  try {
    const client = await TestClient.connect(familiar.url, TOKEN);
    await waitForScene(client, { living: 'Billy', kitchen: 'Mochi', hall: 'Anna' }, 'the household in view (phase 2)', familiar);
    const concepts = ok(await client.request<{ concepts: { id: string; name: string }[] }>({ type: 'concepts/list' })).concepts;
    const id = (name: string) => concepts.find((c) => c.name === name)!.id;
    ok(await client.request({ type: 'preferences/set', concept_id: id('Anna'), likes: ['jazz', 'the piano'], dislikes: ['mushrooms'] }));
    ok(await client.request({ type: 'preferences/set', concept_id: id('Tom'), likes: ['football'], dislikes: [] }));

    const anna = await TestClient.connect(familiar.url, ANNA_TOKEN);
    const questions = await loadQuestions();
    const conversations = new Map<string, string>();
    const outcomes: QuestionOutcome[] = [];
    for (const q of questions) {
      const conversation = q.conversation ? conversations.get(q.conversation) : undefined;
      const ex = await (q.as === 'Anna' ? anna : client).request<{ answer: string; intent?: string; conversation_id?: string }>(
        { type: 'ask', question: q.question, ...(conversation && { conversation_id: conversation }) },
        120_000,
      );
      const result = ex.result;
      const answer = result.success ? result.result.answer : `error ${result.error.code}: ${result.error.message}`;
      const intent = result.success ? (result.result.intent ?? null) : null;
      if (result.success && result.result.conversation_id) conversations.set(q.id, result.result.conversation_id);
      const { correct, why } = result.success ? scoreAnswer(q, answer, intent) : { correct: false, why: ['error'] };
      outcomes.push({ id: q.id, kind: q.kind, question: q.question, answer, intent, correct, why });
      log(`${correct ? 'ok  ' : 'FAIL'} ${q.id}: ${q.question} -> ${answer}${why.length ? ` [${why.join('; ')}]` : ''}`);
    }
    client.ws.close();
    anna.ws.close();
    const byKind: QuestionReport['byKind'] = {};
    for (const o of outcomes) {
      const k = (byKind[o.kind] ??= { total: 0, correct: 0 });
      k.total++;
      if (o.correct) k.correct++;
    }
    const correct = outcomes.filter((o) => o.correct).length;
    return { total: outcomes.length, correct, score: correct / outcomes.length, byKind, outcomes };
  } finally {
    await familiar.stop();
  }
}
