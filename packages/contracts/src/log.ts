export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The one logger shape every component is given (memory repairs, the dialogue server, the engine worker, the
 * runtime). Packages never print: the composition root passes a real one, and `fields` become JSON log fields.
 */
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** The default logger: drops everything. */
export const silentLogger: Logger = () => undefined;
