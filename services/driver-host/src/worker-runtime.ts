// Runs inside a driver's worker thread: loads the plugin module, checks its shape and options with the driver's own
// schemas, starts it, and turns the host's messages into calls of the driver instance. Whatever the driver does wrong
// here is reported to the host as data; a crash or a stuck event loop is the host's to notice (it terminates the
// worker and starts a new one).
import { createRequire } from 'node:module';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { AssetConfig, Setpoint } from '@voltimax/contracts';
import type {
  DriverAsset,
  DriverContext,
  DriverDefinition,
  DriverInstance,
  DriverLog,
  DriverSample,
  OptionsSchema,
} from '@voltimax/driver-sdk';
import {
  formatPath,
  isWorkerInit,
  short,
  type AssetProblems,
  type HostMessage,
  type Problem,
  type WorkerInit,
  type WorkerMessage,
} from './protocol';

const SETPOINT_KINDS: ReadonlySet<string> = new Set(['battery-power', 'ev-current', 'pv-limit']);
const NAME = /^[a-z][a-z0-9-]{0,39}$/;
/** Serialized log fields larger than this are cut (a driver logging a whole buffer must not flood the host). */
const MAX_FIELDS_CHARS = 4_000;

const messageOf = (err: unknown): string =>
  short(err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err));

/** The definition a module exports: `driver`, else `default` (also `default.driver` of a transpiled ES module). */
function exportedDefinition(mod: unknown): unknown {
  if (typeof mod !== 'object' || mod === null) return undefined;
  const record = mod as Record<string, unknown>;
  if (record['driver'] !== undefined) return record['driver'];
  const fallback = record['default'];
  if (
    typeof fallback === 'object' &&
    fallback !== null &&
    (fallback as Record<string, unknown>)['driver'] !== undefined
  ) {
    return (fallback as Record<string, unknown>)['driver'];
  }
  return fallback;
}

const isSchema = (value: unknown): value is OptionsSchema<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { safeParse?: unknown }).safeParse === 'function';

/** What the module exports, checked field by field (a driver built against another SDK version fails here, clearly). */
export function checkDefinition(candidate: unknown): {
  definition?: DriverDefinition<unknown, unknown>;
  problems: Problem[];
} {
  if (typeof candidate !== 'object' || candidate === null) {
    return {
      problems: [
        {
          path: 'module',
          message: `exports no driver definition (expected an export 'driver' or a default export made with defineDriver, got ${candidate === null ? 'null' : typeof candidate})`,
        },
      ],
    };
  }
  const def = candidate as Record<string, unknown>;
  const problems: Problem[] = [];
  const at = (field: string, message: string): void => void problems.push({ path: `module.${field}`, message });
  if (typeof def['name'] !== 'string' || !NAME.test(def['name']))
    at('name', 'must be lowercase letters, digits and dashes');
  if (typeof def['version'] !== 'string' || def['version'].length === 0 || def['version'].length > 64) {
    at('version', 'must be a non-empty string');
  }
  const setpoints = def['setpoints'];
  if (!Array.isArray(setpoints)) at('setpoints', 'must be an array of set-point kinds ([] for a read-only driver)');
  else {
    const bad = setpoints.filter((k) => typeof k !== 'string' || !SETPOINT_KINDS.has(k));
    if (bad.length > 0)
      at(
        'setpoints',
        `unknown set-point kinds ${JSON.stringify(bad).slice(0, 100)} (known: battery-power, ev-current, pv-limit)`,
      );
  }
  if (!isSchema(def['assetOptions'])) at('assetOptions', 'must be a zod schema (an object with safeParse)');
  if (def['hostOptions'] !== undefined && !isSchema(def['hostOptions']))
    at('hostOptions', 'must be a zod schema when given');
  if (typeof def['start'] !== 'function') at('start', 'must be a function');
  return problems.length > 0 ? { problems } : { definition: candidate as DriverDefinition<unknown, unknown>, problems };
}

/** Runs a driver's schema; a schema that throws or answers nonsense is a problem of the driver, reported as one. */
export function parseOptions(
  schema: OptionsSchema<unknown>,
  input: unknown,
  prefix: string,
): { ok: true; data: unknown } | { ok: false; problems: Problem[] } {
  let result: unknown;
  try {
    result = schema.safeParse(input);
  } catch (err) {
    return { ok: false, problems: [{ path: prefix, message: short(`the driver's schema threw: ${messageOf(err)}`) }] };
  }
  const r = result as { success?: unknown; data?: unknown; error?: { issues?: unknown } } | null;
  if (r !== null && typeof r === 'object' && r.success === true) return { ok: true, data: r.data };
  const issues =
    r !== null && typeof r === 'object' && Array.isArray(r.error?.issues) ? (r.error.issues as unknown[]) : [];
  const problems = issues.slice(0, 20).map((issue): Problem => {
    const i = issue as { path?: unknown; message?: unknown };
    const path = Array.isArray(i.path)
      ? i.path.filter((k): k is string | number => typeof k === 'string' || typeof k === 'number')
      : [];
    return {
      path: short(formatPath(prefix, path), 300),
      message: short(typeof i.message === 'string' ? i.message : 'invalid'),
    };
  });
  return {
    ok: false,
    problems: problems.length > 0 ? problems : [{ path: prefix, message: 'rejected by the driver' }],
  };
}

/** Log fields as plain JSON (errors with name, message and stack), bounded. */
function plainFields(fields: unknown): unknown {
  try {
    const text = JSON.stringify(fields, (_key, value: unknown) =>
      value instanceof Error
        ? { type: value.name, message: value.message, stack: value.stack }
        : typeof value === 'bigint'
          ? String(value)
          : value,
    );
    if (text === undefined) return {};
    if (text.length > MAX_FIELDS_CHARS) return { truncated: text.slice(0, MAX_FIELDS_CHARS) };
    return JSON.parse(text) as unknown;
  } catch {
    return { unserializable: true };
  }
}

/** The worker side of one driver; `port` is the worker's parent port. */
export function serveDriver(port: MessagePort, init: WorkerInit): void {
  const stopping = new AbortController();
  const calls = new Map<number, AbortController>();
  const assets = new Map<string, DriverAsset<unknown>>();
  let instance: DriverInstance<unknown> | undefined;
  let closing = false;

  const send = (message: WorkerMessage): boolean => {
    try {
      port.postMessage(message);
      return true;
    } catch {
      return false;
    }
  };
  /** A value the driver produced: when it cannot be copied to the host (a function, a socket …) that is its error. */
  const sendValue = (id: number, value: unknown): void => {
    if (!send({ t: 'result', id, ok: true, value })) {
      send({
        t: 'result',
        id,
        ok: false,
        error: 'the driver returned a value that cannot be copied to the host (functions, handles?)',
      });
    }
  };

  const log = (level: 'debug' | 'info' | 'warn' | 'error') => (fields: object, message: string) =>
    void send({ t: 'log', level, fields: plainFields(fields), message: short(String(message)) });
  const driverLog: DriverLog = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };

  async function start(): Promise<void> {
    let mod: unknown;
    try {
      mod = createRequire(init.modulePath)(init.modulePath);
    } catch (err) {
      send({ t: 'failed', stage: 'load', error: messageOf(err) });
      return;
    }
    const { definition, problems } = checkDefinition(exportedDefinition(mod));
    if (definition === undefined) {
      send({ t: 'refused', problems, assetProblems: [] });
      return;
    }
    let hostOptions: unknown = {};
    if (definition.hostOptions !== undefined) {
      const parsed = parseOptions(definition.hostOptions, init.hostOptions, 'options');
      if (parsed.ok) hostOptions = parsed.data;
      else problems.push(...parsed.problems);
    } else if (Object.keys(init.hostOptions).length > 0) {
      problems.push({ path: 'options', message: `driver '${definition.name}' takes no host options` });
    }
    const assetProblems: AssetProblems = [];
    for (const asset of init.assets) {
      const connection = asset.config.connection as AssetConfig['connection'] & { options?: unknown };
      const parsed = parseOptions(definition.assetOptions, connection.options ?? {}, 'connection.options');
      if (parsed.ok) assets.set(asset.id, { id: asset.id, config: asset.config, options: parsed.data });
      else assetProblems.push({ assetId: asset.id, problems: parsed.problems });
    }
    if (problems.length > 0 || assets.size === 0) {
      send({ t: 'refused', problems, assetProblems });
      return;
    }
    const context: DriverContext<unknown> = {
      options: hostOptions,
      log: driverLog,
      now: () => Date.now(),
      push: (assetId: string, sample: DriverSample) => {
        if (!send({ t: 'push', assetId: String(assetId), sample })) {
          send({ t: 'push', assetId: String(assetId), sample: { uncopyable: true } });
        }
      },
      signal: stopping.signal,
    };
    let started: unknown;
    try {
      started = await definition.start(context, [...assets.values()]);
    } catch (err) {
      send({ t: 'failed', stage: 'start', error: messageOf(err) });
      return;
    }
    const candidate = started as Partial<Record<keyof DriverInstance<unknown>, unknown>> | null;
    if (typeof candidate !== 'object' || candidate === null || typeof candidate.close !== 'function') {
      send({
        t: 'failed',
        stage: 'start',
        error: 'start resolved to something that is not a driver instance (no close())',
      });
      return;
    }
    instance = started as DriverInstance<unknown>;
    send({
      t: 'started',
      name: definition.name,
      version: definition.version,
      setpoints: [...definition.setpoints],
      read: typeof candidate.read === 'function',
      write: typeof candidate.write === 'function',
      health: typeof candidate.health === 'function',
      assetProblems,
    });
  }

  async function call(id: number, work: (signal: AbortSignal) => Promise<unknown> | undefined): Promise<void> {
    const controller = new AbortController();
    calls.set(id, controller);
    try {
      // Inside the async function: a synchronous throw of the driver becomes a rejection like any other.
      const value = await work(controller.signal);
      sendValue(id, value);
    } catch (err) {
      send({ t: 'result', id, ok: false, error: messageOf(err) });
    } finally {
      calls.delete(id);
    }
  }

  function assetFor(assetId: string): DriverAsset<unknown> {
    const asset = assets.get(assetId);
    if (asset === undefined) throw new Error(`asset '${assetId}' is not started in this driver`);
    return asset;
  }

  async function close(): Promise<void> {
    if (closing) return;
    closing = true;
    stopping.abort(new Error('driver stopping'));
    for (const controller of calls.values()) controller.abort(new Error('driver stopping'));
    try {
      await instance?.close();
      send({ t: 'closed' });
    } catch (err) {
      send({ t: 'closed', error: messageOf(err) });
    }
  }

  port.on('message', (message: HostMessage) => {
    switch (message.t) {
      case 'read':
        void call(message.id, (signal) => {
          const read = instance?.read;
          if (read === undefined) throw new Error('the driver has no read()');
          return read.call(instance, assetFor(message.assetId), signal);
        });
        return;
      case 'write':
        void call(message.id, (signal) => {
          const write = instance?.write;
          if (write === undefined) throw new Error('the driver has no write()');
          const bounds = message.bounds;
          return write.call(
            instance,
            assetFor(message.assetId),
            message.setpoint as Setpoint,
            signal,
            bounds === undefined ? undefined : { bounds },
          );
        });
        return;
      case 'cancel':
        calls.get(message.id)?.abort(new Error('the host gave up waiting'));
        return;
      case 'ping': {
        let health: unknown;
        let healthError: string | undefined;
        try {
          health = instance?.health?.();
        } catch (err) {
          healthError = messageOf(err);
        }
        if (!send({ t: 'pong', id: message.id, health, ...(healthError === undefined ? {} : { healthError }) })) {
          send({
            t: 'pong',
            id: message.id,
            health: undefined,
            healthError: 'health() returned a value that cannot be copied',
          });
        }
        return;
      }
      case 'close':
        void close();
        return;
    }
  });
  void start();
}

/** Entry of a worker thread started by the host (see worker-spawn.ts). */
export function runDriverWorker(): void {
  if (parentPort === null || !isWorkerInit(workerData)) throw new Error('not a driver worker');
  serveDriver(parentPort, workerData);
}
