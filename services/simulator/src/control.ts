// The simulator's control API (SIM_CONTROL_PORT, loopback only): tests and scenarios shape the running site and
// inject faults — a frozen meter, a device off the network, a load step, a car arriving, clouds over the PV — and read
// the simulated time and every asset's values. Every accepted request is recorded in the SIM_EVENTS_FILE event log.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AssetIdSchema } from '@voltimax/contracts';
import type { Logger } from 'pino';
import { z } from 'zod';
import { readBody, sendJson } from './http-json';

/** Where the control API listens: the loopback only, it has no authentication. */
export const CONTROL_HOST = '127.0.0.1';
/** Largest request body read, bytes. */
const MAX_BODY_BYTES = 4 * 1024;

/** How an asset is served: over Modbus TCP, as a Peblar REST API, a Shelly on MQTT, or an OCPP charge point. */
export type ServedAs = 'modbus' | 'peblar-http' | 'shelly-mqtt' | 'ocpp';

/** One asset in `GET /state`. */
export interface AssetState {
  readonly kind: string;
  readonly servedAs: ServedAs;
  /** Listener port (Modbus, Peblar); absent for MQTT meters and OCPP charge points. */
  readonly port?: number;
  /** Whether the device is on the network (false after `disconnect`). */
  readonly connected: boolean;
  /** Whether it answers the values frozen by `freeze`. */
  readonly frozen: boolean;
  /** What the device reports (a frozen device: the values it was frozen with). Units in the names; + as in DESIGN. */
  readonly values: Readonly<Record<string, number | boolean | string | null>>;
}

/** `GET /state`. */
export interface SimState {
  readonly v: 1;
  /** Steps taken since the start. */
  readonly step: number;
  /** Simulated time at the end of the last step, epoch ms, and as ISO-8601. */
  readonly simAtMs: number;
  readonly simAt: string;
  /** Sim time per wall time. */
  readonly speed: number;
  /** The site's flows over the last step (grid + = import, battery + = discharge), W; SoC %; frequency Hz. */
  readonly site: {
    readonly gridPowerW: number;
    readonly loadW: number;
    readonly pvW: number;
    readonly evW: number;
    readonly batteryPowerW: number;
    readonly requestedBatteryW: number;
    readonly socPct: number;
    readonly frequencyHz: number;
  };
  /** The load step and PV scale in force. */
  readonly controls: { readonly extraLoadW: number; readonly pvScale: number };
  readonly assets: Readonly<Record<string, AssetState>>;
}

/** What an action did: done (with what changed), or refused with an HTTP status and the reason. */
export type ControlOutcome =
  | { readonly ok: true; readonly detail?: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly status: 404 | 409; readonly reason: string };

/** The running site as the control API drives it (control-site.ts implements it). */
export interface SimControls {
  state(): SimState;
  freeze(assetId: string): ControlOutcome;
  unfreeze(assetId: string): ControlOutcome;
  disconnect(assetId: string): Promise<ControlOutcome>;
  reconnect(assetId: string): Promise<ControlOutcome>;
  /** Load on top of the profile from the next step on, W (negative lowers it; the load never goes below 0). */
  setExtraLoad(extraW: number): ControlOutcome;
  /** The profile's PV × scale from the next step on. */
  setPvScale(scale: number): ControlOutcome;
  plug(assetId: string): Promise<ControlOutcome>;
  unplug(assetId: string): Promise<ControlOutcome>;
}

/** `POST /load`: extra building load, W. */
export const LoadBodySchema = z.strictObject({ extraW: z.number().finite().min(-100_000).max(100_000) });
/** `POST /pv`: the factor the profile's PV is multiplied by. */
export const PvBodySchema = z.strictObject({ scale: z.number().finite().min(0).max(10) });
/** Actions without parameters take no body, or `{}`. */
export const EmptyBodySchema = z.strictObject({});

const ASSET_ACTIONS = ['freeze', 'unfreeze', 'disconnect', 'reconnect'] as const;
const EV_ACTIONS = ['plug', 'unplug'] as const;

/** A parsed request: which action, on which asset, with which validated body. */
export type ControlRequest =
  | { readonly action: 'state' }
  | { readonly action: (typeof ASSET_ACTIONS)[number] | (typeof EV_ACTIONS)[number]; readonly assetId: string }
  | { readonly action: 'load'; readonly extraW: number }
  | { readonly action: 'pv'; readonly scale: number };

/** Why a request was refused before it reached the site. */
export interface RequestProblem {
  readonly status: 400 | 404 | 405;
  readonly reason: string;
}

const issuesText = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');

function parseJson(body: string): { ok: true; value: unknown } | { ok: false } {
  if (body.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Pure: method, path and body text → the request, or why it is refused (400 bad body, 404 no route, 405 method). */
export function parseControlRequest(method: string, path: string, body: string): ControlRequest | RequestProblem {
  const parts = path.split('/').filter((p) => p !== '');
  const [head, id, verb, ...rest] = parts;
  const isState = head === 'state' && parts.length === 1;
  if (isState) return method === 'GET' ? { action: 'state' } : { status: 405, reason: `${method} not allowed on /state` };
  const known =
    (parts.length === 1 && (head === 'load' || head === 'pv')) ||
    (rest.length === 0 &&
      ((head === 'assets' && ASSET_ACTIONS.some((a) => a === verb)) || (head === 'ev' && EV_ACTIONS.some((a) => a === verb))));
  if (!known) return { status: 404, reason: `no such endpoint: ${path}` };
  if (method !== 'POST') return { status: 405, reason: `${method} not allowed on ${path}` };
  const json = parseJson(body);
  if (!json.ok) return { status: 400, reason: 'body is not JSON' };
  if (head === 'load') {
    const parsed = LoadBodySchema.safeParse(json.value);
    return parsed.success ? { action: 'load', extraW: parsed.data.extraW } : { status: 400, reason: issuesText(parsed.error) };
  }
  if (head === 'pv') {
    const parsed = PvBodySchema.safeParse(json.value);
    return parsed.success ? { action: 'pv', scale: parsed.data.scale } : { status: 400, reason: issuesText(parsed.error) };
  }
  const assetId = AssetIdSchema.safeParse(id);
  if (!assetId.success) return { status: 400, reason: `asset id: ${issuesText(assetId.error)}` };
  const empty = EmptyBodySchema.safeParse(json.value);
  if (!empty.success) return { status: 400, reason: issuesText(empty.error) };
  const action = [...ASSET_ACTIONS, ...EV_ACTIONS].find((a) => a === verb);
  if (action === undefined) return { status: 404, reason: `no such endpoint: ${path}` };
  return { action, assetId: assetId.data };
}

/** Runs a parsed request against the site. */
export async function applyControlRequest(controls: SimControls, request: Exclude<ControlRequest, { action: 'state' }>): Promise<ControlOutcome> {
  switch (request.action) {
    case 'freeze':
      return controls.freeze(request.assetId);
    case 'unfreeze':
      return controls.unfreeze(request.assetId);
    case 'disconnect':
      return controls.disconnect(request.assetId);
    case 'reconnect':
      return controls.reconnect(request.assetId);
    case 'plug':
      return controls.plug(request.assetId);
    case 'unplug':
      return controls.unplug(request.assetId);
    case 'load':
      return controls.setExtraLoad(request.extraW);
    case 'pv':
      return controls.setPvScale(request.scale);
  }
}

/** Counters of the control API (health counters `control.accepted/.refused`). */
export interface ControlCounters {
  accepted: number;
  refused: number;
}

/** A running control API. */
export interface ControlServer {
  readonly port: number;
  counters(): ControlCounters;
  close(): Promise<void>;
}

export interface ControlServerOptions {
  readonly controls: SimControls;
  /** 0 = ephemeral. */
  readonly port: number;
  readonly log: Logger;
  /** Records each accepted action (the SIM_EVENTS_FILE event log): `{ action, assetId? , extraW?, scale? , ...detail }`. */
  readonly record?: (event: Readonly<Record<string, unknown>>) => void;
}


/**
 * Serves the control API on 127.0.0.1:`port`: `GET /state`; `POST /assets/<id>/freeze|unfreeze|disconnect|reconnect`,
 * `POST /ev/<id>/plug|unplug`, `POST /load {extraW}`, `POST /pv {scale}`. A bad body answers 400 with the reason, an
 * unknown asset 404, an action the asset does not support 409; each refusal is logged and counted.
 */
export function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { controls, log } = options;
  const counters: ControlCounters = { accepted: 0, refused: 0 };
  const refuse = (res: ServerResponse, status: number, reason: string, what: Record<string, unknown>) => {
    counters.refused += 1;
    log.warn({ ...what, status, reason }, 'control request refused');
    sendJson(res, status, { error: reason });
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://simulator').pathname;
    const body = method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : '';
    if (body === undefined) return refuse(res, 400, `body larger than ${MAX_BODY_BYTES} bytes`, { method, path });
    const request = parseControlRequest(method, path, body);
    if ('status' in request) return refuse(res, request.status, request.reason, { method, path });
    if (request.action === 'state') return sendJson(res, 200, controls.state());
    const outcome = await applyControlRequest(controls, request);
    if (!outcome.ok) return refuse(res, outcome.status, outcome.reason, { ...request });
    counters.accepted += 1;
    const event = { ...request, ...outcome.detail };
    options.record?.(event);
    log.info(event, 'control request applied');
    sendJson(res, 200, { ok: true, ...event });
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'control request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, CONTROL_HOST, () => {
      server.off('error', reject);
      const { port } = server.address() as AddressInfo;
      log.info({ host: CONTROL_HOST, port }, 'control api listening');
      resolve({
        port,
        counters: () => ({ ...counters }),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
