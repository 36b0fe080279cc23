import { pino, type Logger } from 'pino';

/** One parsed pino line. */
export interface CapturedLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** pino's numeric levels, for assertions on captured lines. */
export const LOG_LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/** A pino logger that writes parsed lines into an array (synchronously), for tests. */
export function captureLogger(level: pino.LevelWithSilent = 'debug'): { log: Logger; lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const log = pino({ level }, { write: (s: string) => lines.push(JSON.parse(s) as CapturedLine) });
  return { log, lines };
}
