import type { CapturedLine } from '@voltimax/bus/testing';
import { runService, type ServiceRuntime } from '@voltimax/service-kit';
import { cloudBridgeService, type CloudBridgeOverrides } from '../service';

/** The bridge in-process through runService (as its main.ts runs it), with fake process hooks and captured logs. */
export interface RunningBridge {
  readonly runtime: ServiceRuntime | undefined;
  readonly lines: CapturedLine[];
  readonly stderr: string[];
  /** Exit codes `exit` was called with. */
  readonly exits: number[];
  stop(): Promise<void>;
}

export async function runBridge(
  env: Readonly<Record<string, string | undefined>>,
  overrides: CloudBridgeOverrides = {},
  now?: () => number,
): Promise<RunningBridge> {
  const lines: CapturedLine[] = [];
  const stderr: string[] = [];
  const exits: number[] = [];
  const runtime = await runService(cloudBridgeService(overrides), {
    env: { HEALTH_PORT: 'off', LOG_LEVEL: 'debug', HEARTBEAT_MS: '1000', INSTANCE_ID: 'cloud-bridge-test', ...env },
    exit: (code) => void exits.push(code),
    stderr: { write: (text: string) => stderr.push(text) },
    onSignal: () => () => undefined,
    onFatal: () => () => undefined,
    logDestination: { write: (s: string) => void lines.push(JSON.parse(s) as CapturedLine) },
    ...(now === undefined ? {} : { now }),
  });
  return {
    runtime,
    lines,
    stderr,
    exits,
    async stop() {
      await runtime?.shutdown('test done');
    },
  };
}
