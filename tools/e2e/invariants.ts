// Pure checks of the fault suite's invariants, over what the simulator recorded (SIM_EVENTS_FILE: register writes,
// Peblar PATCHes, steps) and what the bus showed (DeviceWrite requests, arbiter decisions):
//   1. no device write outside the site limits (battery power, SoC, EV current; the grid connection per step);
//   2. no device write that no live DeviceWrite of the arbiter asked for (value and validity window);
//   3. every DeviceWrite on the bus belongs to an arbiter decision (its commandId), or is a safe or re-asserted one.
import type { ArbiterDecision, DeviceWrite } from '@voltimax/contracts';
import { z } from 'zod';

/** The CNTE cabinet's 704 WSet (int32, high word first, WSet_SF = 0 in the simulator): the battery set-point, W. */
export const CNTE_WSET_ADDRESS = 40158;

/** One line of the simulator's event log. */
export const SimEventSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('step'), atMs: z.number(), step: z.number(), gridW: z.number(), loadW: z.number(), batteryW: z.number() }),
  z.object({ t: z.literal('write'), atMs: z.number(), assetId: z.string(), address: z.number(), words: z.array(z.number()) }),
  z.object({
    t: z.literal('http-write'),
    atMs: z.number(),
    assetId: z.string(),
    body: z.object({ ChargeCurrentLimit: z.number().optional(), Force1Phase: z.boolean().optional() }),
  }),
  z.object({ t: z.literal('control'), atMs: z.number(), action: z.string(), assetId: z.string().optional() }).loose(),
]);
export type SimEvent = z.infer<typeof SimEventSchema>;

/** The limits the arbiter enforces on the test site (assets.json). */
export interface SiteLimits {
  readonly battery: { readonly assetId: string; readonly maxChargeW: number; readonly maxDischargeW: number; readonly minSocPct: number };
  readonly ev: { readonly assetId: string; readonly minCurrentA: number; readonly maxCurrentA: number };
  readonly grid: { readonly maxImportW: number; readonly maxExportW: number };
}

/** A device write as the device saw it: the battery set-point (W) or the EV charge current limit (A), or another register. */
export type DeviceValue =
  | { readonly kind: 'battery-power'; readonly powerW: number }
  | { readonly kind: 'ev-current'; readonly currentA: number }
  | { readonly kind: 'other'; readonly what: string };

/** A DeviceWrite request seen on the bus, with when the test received it (epoch ms). */
export interface BusWrite {
  readonly receivedAtMs: number;
  readonly write: DeviceWrite;
}

/** A broken invariant, with the evidence. */
export interface Violation {
  readonly invariant: 'limits' | 'attribution' | 'grid-connection' | 'bus-attribution';
  readonly atMs: number;
  readonly assetId: string;
  readonly detail: string;
}

const int32 = (hi: number, lo: number): number => ((hi << 16) | lo) | 0;

/** What a recorded write set on the device (undefined for steps and control events). */
export function deviceValueOf(event: SimEvent, limits: SiteLimits): DeviceValue | undefined {
  if (event.t === 'write') {
    const offset = CNTE_WSET_ADDRESS - event.address;
    if (event.assetId === limits.battery.assetId && offset >= 0 && offset + 1 < event.words.length) {
      return { kind: 'battery-power', powerW: int32(event.words[offset] ?? 0, event.words[offset + 1] ?? 0) };
    }
    return { kind: 'other', what: `register ${event.address} = [${event.words.join(', ')}]` };
  }
  if (event.t === 'http-write') {
    const mA = event.body.ChargeCurrentLimit;
    return mA === undefined ? { kind: 'other', what: JSON.stringify(event.body) } : { kind: 'ev-current', currentA: mA / 1_000 };
  }
  return undefined;
}

/** Invariant 1 for one device write: inside the battery's power limits and SoC window, the EV's current range. */
export function limitViolations(
  assetId: string,
  value: DeviceValue,
  limits: SiteLimits,
  socPct: number | undefined,
): string[] {
  const problems: string[] = [];
  if (value.kind === 'battery-power') {
    const { maxChargeW, maxDischargeW, minSocPct } = limits.battery;
    if (value.powerW > maxDischargeW) problems.push(`discharge ${value.powerW} W above the limit ${maxDischargeW} W`);
    if (value.powerW < -maxChargeW) problems.push(`charge ${-value.powerW} W above the limit ${maxChargeW} W`);
    // One percent of tolerance: the SoC the test saw last may lag the arbiter's by a reading.
    if (value.powerW > 0 && socPct !== undefined && socPct < minSocPct - 1)
      problems.push(`discharge ${value.powerW} W at SoC ${socPct} % below the minimum ${minSocPct} %`);
  }
  if (value.kind === 'ev-current' && value.currentA !== 0) {
    const { minCurrentA, maxCurrentA } = limits.ev;
    if (value.currentA < minCurrentA || value.currentA > maxCurrentA)
      problems.push(`EV current ${value.currentA} A outside ${minCurrentA}…${maxCurrentA} A (or 0)`);
  }
  return problems.map((p) => `${assetId}: ${p}`);
}

/** The devices' safe set-point: 0 W for the battery, 0 A (pause) for the charger. */
export const isSafeValue = (value: DeviceValue): boolean =>
  (value.kind === 'battery-power' && value.powerW === 0) || (value.kind === 'ev-current' && value.currentA === 0);

/** Whether a DeviceWrite asks for this device value (a safe one: the safe set-point). */
export function asksFor(write: DeviceWrite, value: DeviceValue): boolean {
  const { setpoint } = write;
  if (value.kind === 'other') return true;
  if (setpoint.kind === 'safe') return isSafeValue(value);
  if (value.kind === 'battery-power') return setpoint.kind === 'battery-power' && Math.abs(setpoint.powerW - value.powerW) <= 1;
  return setpoint.kind === 'ev-current' && Math.abs(setpoint.currentA - value.currentA) < 0.01;
}

/**
 * Invariant 2 for one device write: a DeviceWrite of the arbiter for this asset asked for it, received no later than
 * `slackMs` after the device took it (the test's subscriber may lag the driver) and not expired `slackMs` before —
 * or it is the safe set-point the driver falls back to on its own once the asset's last DeviceWrite expired (the
 * watchdog in the device path, DESIGN § Control path).
 */
export function isAttributable(
  assetId: string,
  atMs: number,
  value: DeviceValue,
  busWrites: readonly BusWrite[],
  slackMs: number,
): boolean {
  if (isSafeValue(value)) {
    const last = busWrites.filter((w) => w.write.assetId === assetId && w.receivedAtMs <= atMs + slackMs).at(-1);
    if (last !== undefined && last.write.expiresAtMs <= atMs + slackMs) return true;
  }
  return busWrites.some(
    ({ receivedAtMs, write }) =>
      write.assetId === assetId &&
      receivedAtMs <= atMs + slackMs &&
      write.expiresAtMs >= atMs - slackMs &&
      asksFor(write, value),
  );
}

/** Invariants 1 and 2 over recorded device writes; `socAt` gives the last SoC the bus showed before an instant. */
export function checkDeviceWrites(
  events: readonly SimEvent[],
  ctx: {
    readonly limits: SiteLimits;
    readonly busWrites: readonly BusWrite[];
    readonly socAt: (atMs: number) => number | undefined;
    readonly slackMs: number;
  },
): Violation[] {
  const violations: Violation[] = [];
  for (const event of events) {
    if (event.t !== 'write' && event.t !== 'http-write') continue;
    const value = deviceValueOf(event, ctx.limits);
    if (value === undefined) continue;
    for (const detail of limitViolations(event.assetId, value, ctx.limits, ctx.socAt(event.atMs)))
      violations.push({ invariant: 'limits', atMs: event.atMs, assetId: event.assetId, detail });
    if (!isAttributable(event.assetId, event.atMs, value, ctx.busWrites, ctx.slackMs))
      violations.push({
        invariant: 'attribution',
        atMs: event.atMs,
        assetId: event.assetId,
        detail: `${event.assetId}: ${JSON.stringify(value)} written without a live DeviceWrite asking for it`,
      });
  }
  return violations;
}

/**
 * The grid connection as the arbiter enforces it, per simulation step: the battery never charges while the site
 * imports beyond the limit, nor discharges while it exports beyond it — allowing one step for a set-point to follow a
 * change of the load (two steps in a row count).
 */
export function checkGridSteps(events: readonly SimEvent[], limits: SiteLimits): Violation[] {
  const violations: Violation[] = [];
  const breaks = (s: Extract<SimEvent, { t: 'step' }>) =>
    (s.gridW > limits.grid.maxImportW && s.batteryW < -1) || (s.gridW < -limits.grid.maxExportW && s.batteryW > 1);
  let previous: Extract<SimEvent, { t: 'step' }> | undefined;
  for (const event of events) {
    if (event.t !== 'step') continue;
    if (previous !== undefined && breaks(previous) && breaks(event))
      violations.push({
        invariant: 'grid-connection',
        atMs: event.atMs,
        assetId: limits.battery.assetId,
        detail: `step ${event.step}: grid ${Math.round(event.gridW)} W with the battery at ${Math.round(event.batteryW)} W makes it worse`,
      });
    previous = event;
  }
  return violations;
}

/**
 * Invariant 3: every DeviceWrite belongs to an arbiter decision that names its commandId, or is a safe write, or
 * re-asserts (same asset, same set-point) an earlier DeviceWrite that does.
 */
export function checkBusWrites(busWrites: readonly BusWrite[], decisions: readonly ArbiterDecision[]): Violation[] {
  const commands = new Set(decisions.flatMap((d) => (d.commandId === undefined ? [] : [d.commandId])));
  const vouched: DeviceWrite[] = [];
  const violations: Violation[] = [];
  for (const { receivedAtMs, write } of busWrites) {
    const same = (w: DeviceWrite) => w.assetId === write.assetId && JSON.stringify(w.setpoint) === JSON.stringify(write.setpoint);
    if (commands.has(write.commandId) || write.setpoint.kind === 'safe' || vouched.some(same)) {
      vouched.push(write);
      continue;
    }
    violations.push({
      invariant: 'bus-attribution',
      atMs: receivedAtMs,
      assetId: write.assetId,
      detail: `DeviceWrite ${write.commandId} (${JSON.stringify(write.setpoint)}) has no arbiter decision`,
    });
  }
  return violations;
}
