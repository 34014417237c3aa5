/**
 * Every failure Familiar reports carries one of these codes. The table is closed: clients, logs and
 * the README all key on the code, never on the message text.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'The configuration or device profile failed validation.',
  MODEL_MISSING: 'A model file named in the models manifest is not in the models directory.',
  MODEL_HASH_MISMATCH: "A model file's sha256 differs from the manifest.",
  MODEL_IO_MISMATCH: "A model's input/output tensors are not what the manifest says.",
  MODEL_LOAD_FAILED: 'ONNX Runtime could not create a session for a model.',
  PROVIDER_UNAVAILABLE: 'The requested execution provider cannot be used on this build or device.',
  INFERENCE_FAILED: 'A model run failed.',
  ENGINE_UNAVAILABLE: 'The recognition engine is restarting after a failure; try again shortly.',
  IMAGE_INVALID: 'The input is not a decodable image (corrupt, truncated or another format).',
  IMAGE_TOO_LARGE: 'The image exceeds the configured byte or pixel limits.',
  IMAGE_TOO_SMALL: 'The image is smaller than the minimum usable size.',
  INPUT_INVALID: 'An argument or field has a wrong type, value or is unknown.',
  CONCEPT_NOT_FOUND: 'No enrolled concept has this id or name.',
  CONCEPT_EXISTS: 'A concept with this name and kind is already enrolled.',
  ENROL_NO_VIEWS: 'None of the enrolment photos gave a usable view of the concept.',
  STORE_CORRUPT: 'A persisted store file failed its integrity check.',
  STORE_IO: 'Reading or writing the store failed (disk full, permissions).',
  INDEX_DIM_MISMATCH: 'A vector does not have the dimension of its index.',
  DATASET_INVALID: 'An evaluation dataset folder or its index.csv is malformed.',
  CAMERA_UNAVAILABLE: 'A camera or stream cannot be opened or has gone away.',
  CAMERA_TIMEOUT: 'A camera delivered no frame in time.',
  TOOL_MISSING: 'A required system program (ffmpeg, fswebcam, a font) is not installed.',
  AUTH_REQUIRED: 'The connection has not authenticated yet.',
  AUTH_INVALID: 'The access token is wrong or authentication was rate-limited.',
  FORBIDDEN: "The client's role may not run this command.",
  MESSAGE_INVALID: 'A protocol message is malformed, has unknown fields or wrong types.',
  MESSAGE_TOO_LARGE: 'A protocol message exceeds the size limits.',
  RATE_LIMITED: 'The client sent too many commands too quickly.',
  CLIENT_TOO_SLOW: 'The client did not read its messages fast enough and was dropped.',
  NOT_FOUND: 'The referenced camera, subscription, request or trigger does not exist.',
  LVLM_UNAVAILABLE: 'The vision-language model server cannot be reached or returned an error.',
  LVLM_TIMEOUT: 'The vision-language model did not answer in time.',
  LVLM_BAD_RESPONSE: 'The vision-language model returned a malformed response or stream.',
  CANCELLED: 'The operation was cancelled.',
  INTERNAL: 'An unexpected internal error.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The one error class of Familiar: a stable `code` from {@link ERROR_CODES}, a human message and an optional cause. */
export class FamiliarError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message?: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message ?? ERROR_CODES[code], options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FamiliarError';
    this.code = code;
    this.details = options?.details;
  }

  /** The wire form (WebSocket errors, the engine worker boundary): `details` travels too, e.g. `errno: "ENOSPC"`. */
  toJSON(): WireError {
    return { code: this.code, message: this.message, ...(this.details !== undefined && { details: { ...this.details } }) };
  }

  /** The inverse of {@link toJSON}: a FamiliarError again on the other side of a thread or socket. */
  static fromJSON(json: WireError): FamiliarError {
    return new FamiliarError(json.code, json.message, json.details === undefined ? undefined : { details: json.details });
  }
}

/** A FamiliarError as data: what crosses a thread boundary or the WebSocket. */
export interface WireError {
  code: ErrorCode;
  message: string;
  /** Structured facts a client may key on (`errno`, `reason`, `id`); JSON values only. */
  details?: Record<string, unknown>;
}

/** Wraps anything thrown into a FamiliarError so every stage boundary speaks one error type. */
export function toFamiliarError(err: unknown, fallback: ErrorCode = 'INTERNAL'): FamiliarError {
  if (err instanceof FamiliarError) return err;
  if (err instanceof Error && err.name === 'AbortError') return new FamiliarError('CANCELLED', err.message, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new FamiliarError(fallback, message, { cause: err });
}
