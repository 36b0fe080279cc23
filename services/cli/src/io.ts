import { userInfo } from 'node:os';

/** What a command needs from the outside world, injected so commands are testable in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readFile: (path: string) => Promise<string>;
}

/** Thrown by a command to end the program with a specific exit code (the message is already printed). */
export class CliExit extends Error {
  override readonly name = 'CliExit';
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
  }
}

/** Who is asking, for audit fields (`issuedBy`, `requestedBy`, `by`, `operator`): `cli:<login name>`, or `cli`. */
export function cliUser(): string {
  try {
    return `cli:${userInfo().username}`.slice(0, 128);
  } catch {
    return 'cli';
  }
}
