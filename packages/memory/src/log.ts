/** Where the memory package reports what it repaired or could not do (quarantined files, rebuilt caches). */
export type MemoryLogger = (level: 'info' | 'warn' | 'error', message: string, details?: Record<string, unknown>) => void;

/** The default logger: drops everything (packages never print; the runtime passes a real one). */
export const silentLogger: MemoryLogger = () => undefined;
