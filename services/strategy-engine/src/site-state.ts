import type { AssetConfig, AssetReading, Quality, SiteConfig } from '@voltimax/contracts';
import { getProfile, profileSetpoints } from '@voltimax/devices';
import type { BatteryState, EvChargerState, PricePoint, PvInverterState, SiteState } from '@voltimax/strategies';

/** How far ahead of the engine's clock a reading's time may be and still order the readings after it, ms. */
export const FUTURE_READING_TOLERANCE_MS = 2_000;

/** The latest reading per asset id, as received on `telemetry.<assetId>`. */
export class TelemetryCache {
  readonly #latest = new Map<string, AssetReading>();

  /**
   * Keeps the reading unless an older measurement arrives late (same asset, smaller atMs). Returns whether it was kept.
   * A kept reading stamped further ahead of `nowMs` than `FUTURE_READING_TOLERANCE_MS` (a wrong clock) does not hold
   * back the readings after it: before, one reading stamped a day ahead made every correct one 'late' for a day.
   */
  update(reading: AssetReading, nowMs: number = Number.POSITIVE_INFINITY): boolean {
    const current = this.#latest.get(reading.assetId);
    if (current && reading.atMs < current.atMs && current.atMs <= nowMs + FUTURE_READING_TOLERANCE_MS) return false;
    this.#latest.set(reading.assetId, reading);
    return true;
  }

  get(assetId: string): AssetReading | undefined {
    return this.#latest.get(assetId);
  }

  has(assetId: string): boolean {
    return this.#latest.has(assetId);
  }

  /** Forget assets the configuration no longer has, so the map cannot grow without bound. */
  retain(assetIds: ReadonlySet<string>): void {
    for (const id of this.#latest.keys()) if (!assetIds.has(id)) this.#latest.delete(id);
  }
}

/** A power reading this many times the site's largest rating is not physical (a glitch, a wrong scale). */
export const IMPLAUSIBLE_POWER_FACTOR = 3;

const POWER_KEYS = ['powerW', 'powerL1W', 'powerL2W', 'powerL3W', 'gridPowerW', 'pvPowerW', 'loadPowerW', 'setpointW'] as const;

/**
 * The floor of `plausiblePowerLimitW`, W: PV the configuration gives no rating (a hybrid inverter without a `pv` block,
 * a meter measuring PV) may be larger than the ratings it does give. A reading held for a second moves a quarter
 * hour's mean by a 900th of itself, so only values far beyond this matter to the month's peak.
 */
export const MIN_PLAUSIBLE_POWER_W = 100_000;

/**
 * The largest power any reading of this site can truly show, W: `IMPLAUSIBLE_POWER_FACTOR` × the largest of the grid
 * connection's limits, the batteries' power, the PV ratings (PV inverters and hybrids) and the chargers' power (each
 * summed over the site), and at least `MIN_PLAUSIBLE_POWER_W`.
 */
export function plausiblePowerLimitW(site: SiteConfig): number {
  let batteryW = 0;
  let pvW = 0;
  let evW = 0;
  for (const a of site.assets) {
    const b = batteryLimitsOf(a);
    if (b) batteryW += Math.max(b.maxChargePowerW, b.maxDischargePowerW);
    if (a.kind === 'pv-inverter' || a.kind === 'hybrid-inverter') pvW += a.pv?.ratedPowerW ?? 0;
    if (a.kind === 'ev-charger') evW += a.evCharger.maxCurrentA * a.evCharger.phases * site.grid.nominalVoltageV;
  }
  return Math.max(MIN_PLAUSIBLE_POWER_W, IMPLAUSIBLE_POWER_FACTOR * Math.max(site.grid.maxImportW, site.grid.maxExportW, batteryW, pvW, evW));
}

/**
 * Why a reading cannot be true of this site (a power beyond `plausiblePowerLimitW`), or undefined. Such a reading is
 * refused at the engine's boundary: one grid reading of 1e8 W made the month's peak 113 kW, saved with the site
 * history, and peak-shaving then charged from the grid against a 115 kW target for the rest of the month.
 */
export function implausibleReading(reading: AssetReading, limitW: number): string | undefined {
  for (const key of POWER_KEYS) {
    const value = reading.values[key];
    if (typeof value === 'number' && Math.abs(value) > limitW) return `${key} ${value} W is beyond ${limitW} W, what this site can show`;
  }
  return undefined;
}

/** What `buildSiteState` needs. */
export interface SiteStateInput {
  readonly site: SiteConfig;
  readonly readings: Pick<TelemetryCache, 'get'>;
  /** Known prices (already selected for the site's zone), EUR/MWh. */
  readonly prices?: readonly PricePoint[];
  /** The tick's time, epoch ms. */
  readonly nowMs: number;
  /** A reading older than this is marked 'stale', ms. */
  readonly maxTelemetryAgeMs: number;
}

/** A snapshot and what was wrong with its inputs (for logs and heartbeats). */
export interface BuiltSiteState {
  readonly state: SiteState;
  /** Where the grid power came from: the grid meter, a hybrid inverter's grid port, or nowhere. */
  readonly gridSource: string | undefined;
  /** Enabled assets the strategies depend on that have no reading yet. */
  readonly missing: readonly string[];
  /** Enabled assets whose reading is not good or too old (the strategies hold them at 0). */
  readonly stale: readonly string[];
}

/** Quality and age of one reading at `nowMs`: too old → 'stale'; none → 'error' with an infinite age. */
interface Freshness {
  readonly quality: Quality;
  readonly ageMs: number;
}

function freshnessOf(reading: AssetReading | undefined, nowMs: number, maxAgeMs: number): Freshness {
  if (!reading) return { quality: 'error', ageMs: Number.POSITIVE_INFINITY };
  const ageMs = Math.max(0, nowMs - reading.atMs);
  // A reading from further in the future than the budget means a wrong clock somewhere: do not act on it.
  const isFromFuture = reading.atMs - nowMs > maxAgeMs;
  if (reading.quality === 'good' && (ageMs > maxAgeMs || isFromFuture)) return { quality: 'stale', ageMs };
  return { quality: reading.quality, ageMs };
}

/** A usable number, or undefined (missing values and readings of bad quality carry no number we act on). */
function valueOf(reading: AssetReading | undefined, key: keyof AssetReading['values']): number | undefined {
  const value = reading?.values[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function isFresh(f: Freshness): boolean {
  return f.quality === 'good';
}

type BatteryLimits = NonNullable<Extract<AssetConfig, { kind: 'hybrid-inverter' }>['battery']>;

/** The battery limits of a `battery` asset or a `hybrid-inverter` with a battery; undefined for other assets. */
function batteryLimitsOf(asset: AssetConfig): BatteryLimits | undefined {
  return asset.kind === 'battery' || asset.kind === 'hybrid-inverter' ? asset.battery : undefined;
}

const CONNECTED_STATES = new Set(['preparing', 'charging', 'suspended', 'finishing']);

/**
 * Whether a PV inverter's profile can execute `pv-limit`: a register profile's controls, an HTTP or MQTT profile's
 * writes. Not `sunspec.generic` (the modbus-poller reads SunSpec devices but refuses every write to them: writes are
 * not generic, a device that needs control gets its own register profile), and not a profile the registry does not
 * know (a plugin's).
 */
export function canCurtailPv(profileId: string): boolean {
  const profile = getProfile(profileId);
  return profile !== undefined && profileSetpoints(profile).includes('pv-limit');
}

/**
 * Builds the strategies' snapshot from the latest readings and the site configuration (DESIGN § Units and signs):
 *
 * - **grid** (+ = import): the first enabled `grid-meter` (`powerW`, `powerL1..3W`, `frequencyHz`); without one, a
 *   hybrid inverter's `gridPowerW`. No reading → 0 W with quality 'error' and an infinite age (stale for every strategy).
 * - **batteries** (+ = discharge): `battery` assets and `hybrid-inverter`s with battery limits (their `powerW` is the
 *   battery port). Limits from the site config, tightened by the BMS (`maxChargePowerW`/`maxDischargePowerW`). A
 *   missing SoC is NaN, which the strategies treat as stale.
 * - **PV** (≥ 0): Σ fresh `pv-inverter.powerW`, hybrid `pvPowerW` and `meter` (measures 'pv') readings.
 * - **curtailable PV** (`pvInverters`, for the feed-in limit): every `pv-inverter` not driven by a plugin whose profile
 *   can execute `pv-limit` (`canCurtailPv`), with its `powerW` and `pv.ratedPowerW`; quality and age as read. A hybrid inverter's PV is not
 *   curtailed: the arbiter keeps one set-point per asset, and a hybrid's is its battery's.
 * - **EV chargers** (≥ 0): connected when the charger state says a car is plugged in (or, without a state, it draws power).
 * - **load** (≥ 0): Σ fresh `load` assets and `meter`s measuring 'load' (else a hybrid's `loadPowerW`) → 'measured';
 *   otherwise derived from the balance: load = grid + PV + battery − EV.
 *
 * A reading counts as stale when its quality is not 'good' or it is older than `maxTelemetryAgeMs`; stale PV, load
 * and EV values count as 0 W (never "assume the last value"). Disabled assets are left out.
 */
export function buildSiteState(input: SiteStateInput): BuiltSiteState {
  const { site, readings, nowMs, maxTelemetryAgeMs } = input;
  const assets = site.assets.filter((a) => a.enabled);
  const fresh = (id: string): Freshness => freshnessOf(readings.get(id), nowMs, maxTelemetryAgeMs);
  const missing: string[] = [];
  const stale: string[] = [];
  const note = (id: string, f: Freshness): void => {
    if (!readings.get(id)) missing.push(id);
    else if (!isFresh(f)) stale.push(id);
  };

  // Grid.
  const meter = assets.find((a) => a.kind === 'grid-meter');
  const hybridWithGrid = assets.find((a) => a.kind === 'hybrid-inverter' && valueOf(readings.get(a.id), 'gridPowerW') !== undefined);
  const gridAsset = meter ?? hybridWithGrid;
  let gridPowerW = 0;
  let gridQuality: Quality = 'error';
  let gridAgeMs = Number.POSITIVE_INFINITY;
  let gridPhasePowersW: number[] | undefined;
  let frequencyHz: number | undefined;
  if (gridAsset) {
    const reading = readings.get(gridAsset.id);
    const f = fresh(gridAsset.id);
    note(gridAsset.id, f);
    const powerW = valueOf(reading, gridAsset.kind === 'grid-meter' ? 'powerW' : 'gridPowerW');
    gridPowerW = powerW ?? 0;
    gridQuality = powerW === undefined && f.quality === 'good' ? 'error' : f.quality;
    gridAgeMs = f.ageMs;
    if (gridAsset.kind === 'grid-meter') {
      const phases = [valueOf(reading, 'powerL1W'), valueOf(reading, 'powerL2W'), valueOf(reading, 'powerL3W')];
      if (phases.every((p) => p !== undefined)) gridPhasePowersW = phases as number[];
      frequencyHz = valueOf(reading, 'frequencyHz');
    }
  }

  // Batteries.
  const batteries: BatteryState[] = assets.flatMap((asset) => {
    const limits = batteryLimitsOf(asset);
    if (!limits) return [];
    const reading = readings.get(asset.id);
    const f = fresh(asset.id);
    note(asset.id, f);
    const bmsChargeW = valueOf(reading, 'maxChargePowerW');
    const bmsDischargeW = valueOf(reading, 'maxDischargePowerW');
    const socPct = valueOf(reading, 'socPct');
    const powerW = valueOf(reading, 'powerW');
    const battery: BatteryState = {
      assetId: asset.id,
      socPct: socPct ?? Number.NaN,
      powerW: powerW ?? 0,
      capacityWh: limits.capacityWh,
      maxChargePowerW: Math.min(limits.maxChargePowerW, bmsChargeW ?? Number.POSITIVE_INFINITY),
      maxDischargePowerW: Math.min(limits.maxDischargePowerW, bmsDischargeW ?? Number.POSITIVE_INFINITY),
      minSocPct: limits.minSocPct,
      maxSocPct: limits.maxSocPct,
      reserveSocPct: limits.reserveSocPct,
      ...(limits.maxRampWPerS !== undefined ? { maxRampWPerS: limits.maxRampWPerS } : {}),
      ...(limits.responseMs !== undefined ? { responseMs: limits.responseMs } : {}),
      quality: (socPct === undefined || powerW === undefined) && f.quality === 'good' ? 'error' : f.quality,
      ageMs: f.ageMs,
    };
    return [battery];
  });

  // EV chargers.
  const evChargers: EvChargerState[] = assets.flatMap((asset) => {
    if (asset.kind !== 'ev-charger') return [];
    const reading = readings.get(asset.id);
    const f = fresh(asset.id);
    note(asset.id, f);
    const powerW = isFresh(f) ? Math.max(0, valueOf(reading, 'powerW') ?? 0) : 0;
    const readPhases = valueOf(reading, 'phases');
    const sessionEnergyWh = valueOf(reading, 'sessionEnergyWh');
    const connected = reading?.chargerState !== undefined ? CONNECTED_STATES.has(reading.chargerState) : powerW > 0;
    const charger: EvChargerState = {
      assetId: asset.id,
      connected: isFresh(f) && connected,
      powerW,
      currentLimitA: Math.max(0, valueOf(reading, 'currentLimitA') ?? 0),
      minCurrentA: asset.evCharger.minCurrentA,
      maxCurrentA: asset.evCharger.maxCurrentA,
      phases: readPhases === 1 || readPhases === 3 ? readPhases : asset.evCharger.phases,
      quality: f.quality,
      ageMs: f.ageMs,
      ...(sessionEnergyWh !== undefined && connected ? { session: { energyDeliveredWh: sessionEnergyWh } } : {}),
    };
    return [charger];
  });

  // PV and measured load: fresh readings only.
  let pvPowerW = 0;
  let measuredLoadW: number | undefined;
  let hybridLoadW: number | undefined;
  for (const asset of assets) {
    const reading = readings.get(asset.id);
    const f = fresh(asset.id);
    if (asset.kind === 'pv-inverter' || (asset.kind === 'meter' && (asset.measures === 'pv' || asset.measures === 'load')) || asset.kind === 'load') {
      note(asset.id, f);
    }
    if (!isFresh(f)) continue;
    if (asset.kind === 'pv-inverter' || (asset.kind === 'meter' && asset.measures === 'pv')) {
      pvPowerW += Math.max(0, valueOf(reading, 'powerW') ?? 0);
    } else if (asset.kind === 'hybrid-inverter') {
      pvPowerW += Math.max(0, valueOf(reading, 'pvPowerW') ?? 0);
      const loadW = valueOf(reading, 'loadPowerW');
      if (loadW !== undefined) hybridLoadW = (hybridLoadW ?? 0) + Math.max(0, loadW);
    } else if (asset.kind === 'load' || (asset.kind === 'meter' && asset.measures === 'load')) {
      const loadW = valueOf(reading, 'powerW');
      if (loadW !== undefined) measuredLoadW = (measuredLoadW ?? 0) + Math.max(0, loadW);
    }
  }
  const pvInverters: PvInverterState[] = assets.flatMap((asset) => {
    // A plugin drives its asset whatever profile it names: what it can execute is not known here.
    if (asset.kind !== 'pv-inverter' || asset.connection.protocol === 'plugin' || !canCurtailPv(asset.profile)) return [];
    const f = fresh(asset.id);
    const powerW = valueOf(readings.get(asset.id), 'powerW');
    return [
      {
        assetId: asset.id,
        powerW: Math.max(0, powerW ?? 0),
        ratedPowerW: asset.pv.ratedPowerW,
        quality: powerW === undefined && f.quality === 'good' ? 'error' : f.quality,
        ageMs: f.ageMs,
      },
    ];
  });
  const batteryW = batteries.reduce((s, b) => s + (isFresh(b) ? b.powerW : 0), 0);
  const evW = evChargers.reduce((s, c) => s + c.powerW, 0);
  const measured = measuredLoadW ?? hybridLoadW;
  const loadPowerW = measured ?? Math.max(0, gridPowerW + pvPowerW + batteryW - evW);

  const state: SiteState = {
    gridPowerW,
    gridQuality,
    gridAgeMs,
    ...(gridPhasePowersW ? { gridPhasePowersW } : {}),
    pvPowerW,
    loadPowerW,
    loadSource: measured !== undefined ? 'measured' : 'derived',
    batteries,
    evChargers,
    ...(pvInverters.length > 0 ? { pvInverters } : {}),
    ...(frequencyHz !== undefined ? { frequencyHz } : {}),
    ...(input.prices ? { prices: input.prices } : {}),
    tariff: site.tariff,
    timezone: site.timezone,
    limits: {
      maxImportW: site.grid.maxImportW,
      maxExportW: site.grid.maxExportW,
      phases: site.grid.phases,
      nominalVoltageV: site.grid.nominalVoltageV,
      ...(site.grid.maxPhaseCurrentA !== undefined ? { maxPhaseCurrentA: site.grid.maxPhaseCurrentA } : {}),
    },
  };
  if (!gridAsset) missing.push('(grid meter)');
  return { state, gridSource: gridAsset?.id, missing: [...new Set(missing)], stale: [...new Set(stale)] };
}

/** Ids of the enabled assets whose first reading the engine waits for after a start: the grid source and batteries. */
export function essentialAssetIds(site: SiteConfig): string[] {
  const assets = site.assets.filter((a) => a.enabled);
  const grid = assets.find((a) => a.kind === 'grid-meter');
  return [...(grid ? [grid.id] : []), ...assets.filter((a) => batteryLimitsOf(a) !== undefined).map((a) => a.id)];
}
