import { FamiliarError, toFamiliarError, type AskMode, type AskResult, type ConceptSummary, type Match, type RgbImage } from '@familiar/contracts';
import { OVERLAY_PALETTE, clampBox, renderOverlay, type OverlayOptions } from '@familiar/image';
import type { DialogueBackend, LastSeen } from './backend.ts';
import { groundedAnswer, notInViewSentence, type GroundedReason } from './grounded.ts';
import type { ChatModel } from './lvlm.ts';
import { buildAnswerMessages, buildCaptionMessages, findMentions, sanitiseText, PROMPT_LIMITS, type PromptEntity } from './prompt.ts';
import { toWireLastSeen } from './wire.ts';

export interface AskerOptions {
  backend: DialogueBackend;
  /** null: answer with the grounded responder only. */
  lvlm: ChatModel | null;
  /** How the annotated image is drawn (font, labels, size, quality). */
  overlay: Pick<OverlayOptions, 'labels' | 'fontFile' | 'maxSide' | 'jpegQuality'>;
  /** Default of AskRequest.mode. */
  captionFirst: boolean;
  now?: () => number;
}

/** A question about a camera's current view or about an uploaded (already decoded) image. */
export interface AskRequest {
  question: string;
  cameraId?: string | undefined;
  image?: RgbImage | undefined;
  asker?: string | undefined;
  mode?: AskMode | undefined;
}

export interface AskCallbacks {
  signal?: AbortSignal | undefined;
  /** Pieces of the answer in order; their concatenation is the final answer. */
  onDelta?: ((text: string) => void) | undefined;
}

/** The first eight matches by confidence, one per concept, inside the image: the palette has eight distinct colours. */
function selectMatches(matches: readonly Match[], width: number, height: number): Match[] {
  const best = new Map<string, Match>();
  for (const m of matches) {
    if (!clampBox(m.box, width, height)) continue;
    const prev = best.get(m.conceptId);
    if (!prev || m.confidence > prev.confidence) best.set(m.conceptId, m);
  }
  return [...best.values()].sort((a, b) => b.confidence - a.confidence).slice(0, OVERLAY_PALETTE.length);
}

function checkCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new FamiliarError('CANCELLED', 'the question was cancelled');
}

/**
 * Answers questions by visually prompting an LVLM (PeKit): the view with one coloured box per recognised
 * concept, and "the entity enclosed in a {colour} box is called {name}" + what the household said about it.
 * Concepts the question names that are not in view get an honest "I don't see X right now" with their last
 * sighting, never a guess, and are not sent to the LVLM. With no LVLM, or when it fails before sending any
 * text, the grounded responder answers from recognition and memory (result.source = 'grounded',
 * result.lvlm_error says why). A failure after text was streamed is thrown (the client already has part of
 * an answer; a different answer appended would be worse).
 */
export class Asker {
  private readonly now: () => number;

  constructor(private readonly options: AskerOptions) {
    this.now = options.now ?? Date.now;
  }

  async ask(req: AskRequest, callbacks: AskCallbacks = {}): Promise<AskResult> {
    const { backend } = this.options;
    const { signal } = callbacks;
    let streamed = false;
    const emit = (text: string) => {
      if (!text) return;
      streamed = true;
      callbacks.onDelta?.(text);
    };

    let image: RgbImage;
    let matches: Match[];
    let cameraId: string | null = null;
    let room: string | null = null;
    let capturedAt: number | null = null;
    if (req.image) {
      image = req.image;
      matches = await backend.recognise(image, signal);
    } else {
      const view = await backend.currentView(req.cameraId);
      if (!view) throw new FamiliarError('NOT_FOUND', req.cameraId ? `camera "${req.cameraId}" has no frame yet` : 'no camera has a frame yet');
      ({ image, matches, cameraId, room, capturedAt } = view);
    }
    checkCancelled(signal);

    const concepts = backend.listConcepts();
    const byId = new Map<string, ConceptSummary>(concepts.map((c) => [c.id, c]));
    const shown = selectMatches(matches, image.width, image.height);
    const shownIds = new Set(shown.map((m) => m.conceptId));
    const mentioned = findMentions(req.question, concepts);
    const absent = mentioned
      .filter((c) => !shownIds.has(c.id))
      .map((c) => ({ concept: c, lastSeen: safeLastSeen(backend, c.id) }));
    const mentionedInView = shown.filter((m) => mentioned.some((c) => c.id === m.conceptId));

    // Names and context as memory has them now (a rename since the frame was recognised wins).
    const entities: PromptEntity[] = shown.map((m, i) => ({
      colour: OVERLAY_PALETTE[i]!.name,
      name: byId.get(m.conceptId)?.name ?? m.name,
      kind: m.kind,
      context: byId.get(m.conceptId)?.context ?? '',
    }));
    const groundedOn = shown.map((m, i) => ({
      concept_id: m.conceptId,
      name: entities[i]!.name,
      kind: m.kind,
      colour: entities[i]!.colour,
      box: m.box,
      confidence: m.confidence,
    }));
    const base = {
      camera_id: cameraId,
      room,
      captured_at: capturedAt,
      not_in_view: absent.map((a) => ({ concept_id: a.concept.id, name: a.concept.name, last_seen: a.lastSeen ? toWireLastSeen(a.lastSeen) : null })),
    };

    const grounded = (reason: GroundedReason, lvlmError?: FamiliarError): AskResult => {
      const answer = groundedAnswer({
        matches: shown,
        imageWidth: image.width,
        room,
        mentionedInView,
        absent: absent.map((a) => ({ name: a.concept.name, lastSeen: a.lastSeen })),
        reason,
        now: this.now(),
      });
      emit(answer);
      return {
        answer,
        source: 'grounded',
        ...base,
        grounded_on: reason === 'absent-only' ? [] : groundedOn,
        ...(lvlmError ? { lvlm_error: lvlmError.toJSON() } : {}),
      };
    };

    // Asked only about concepts that are not here: the honest answer needs no model, and a model shown the
    // frame would be tempted to find them in it.
    if (mentioned.length > 0 && mentionedInView.length === 0) return grounded('absent-only');
    const lvlm = this.options.lvlm;
    if (!lvlm) return grounded('no-lvlm');

    // renderOverlay colours items in palette order, the same order `entities` took its colours from.
    const overlay = await renderOverlay(
      image,
      shown.map((m, i) => ({ box: m.box, label: entities[i]!.name })),
      this.options.overlay,
    );
    checkCancelled(signal);
    const imageUrl = `data:image/jpeg;base64,${Buffer.from(overlay.jpeg).toString('base64')}`;
    const absentNames = absent.map((a) => a.concept.name);
    const prefix = absent.map((a) => notInViewSentence(a.concept.name, a.lastSeen, this.now())).join(' ');

    let answer = '';
    try {
      let caption: string | undefined;
      if ((req.mode ?? (this.options.captionFirst ? 'caption_first' : 'direct')) === 'caption_first') {
        caption = (await lvlm.chat(buildCaptionMessages({ imageUrl, entities, asker: req.asker, absent: absentNames }), { signal })).text;
        caption = sanitiseText(caption, PROMPT_LIMITS.caption) || undefined;
      }
      const messages = buildAnswerMessages({ imageUrl, entities, question: req.question, asker: req.asker, absent: absentNames, caption });
      let first = true;
      const reply = await lvlm.chat(messages, {
        signal,
        onDelta: (text) => {
          // The honest part about absent concepts goes out only once the model has started answering, so a
          // failure before that can still fall back to the grounded responder cleanly.
          if (first && prefix) {
            emit(`${prefix} `);
            answer += `${prefix} `;
          }
          first = false;
          emit(text);
          answer += text;
        },
      });
      if (!reply.text.trim()) throw new FamiliarError('LVLM_BAD_RESPONSE', 'the LVLM returned an empty answer');
      return { answer, source: 'lvlm', ...base, grounded_on: groundedOn };
    } catch (err) {
      const e = toFamiliarError(err);
      if (e.code === 'CANCELLED' || signal?.aborted) throw new FamiliarError('CANCELLED', 'the question was cancelled', { cause: err });
      if (!streamed && (e.code === 'LVLM_UNAVAILABLE' || e.code === 'LVLM_TIMEOUT' || e.code === 'LVLM_BAD_RESPONSE')) return grounded('lvlm-failed', e);
      throw e;
    }
  }
}

function safeLastSeen(backend: DialogueBackend, conceptId: string): LastSeen | null {
  try {
    return backend.lastSeen(conceptId);
  } catch {
    // Memory trouble must not turn an honest "not here" into an error.
    return null;
  }
}
