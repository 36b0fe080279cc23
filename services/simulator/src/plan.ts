import type { AssetConfig, AssetKind, SiteConfig } from '@voltimax/contracts';
import { BatteryModelSchema, type BatteryModel } from '@voltimax/sim';
import { CnteBattery } from './registers/cnte-battery';
import {
  growattBatteryRequestW,
  GrowattPv,
  GrowattSph,
  type GrowattEnergies,
  type GrowattInverter,
} from './registers/growatt-sph';
import type { SimulatedDevice } from './registers/register-bank';
import { Sdm630 } from './registers/sdm630';
import type { BatteryRequestContext, PvDelivery, SiteDevice, SiteEnergies } from './site';

/** Modbus unit id every simulated device answers (the profiles' default). */
export const SIM_UNIT_ID = 1;
/** PV peak of the synthetic profile when the site names no PV rating, W. */
export const DEFAULT_PV_PEAK_W = 5_000;
/** Counter readings of the simulated grid meter when the simulation starts, kWh (a meter is rarely new). */
export const GRID_METER_START_KWH = { import: 1_520.4, export: 310.7 } as const;

/** An asset the simulator serves over Modbus TCP. */
export interface ServedAsset {
  readonly assetId: string;
  readonly kind: AssetKind;
  /** The profile assets.json names. */
  readonly configuredProfile: string;
  /** The profile of the register image served (what the poller must use). */
  readonly servedProfile: string;
  readonly device: SimulatedDevice;
  readonly unitId: number;
}

/** What the simulator will run for a site. */
export interface SimulationPlan {
  readonly served: readonly ServedAsset[];
  /** Assets without a Modbus image here (EV chargers, PV sub-meters, …), with the reason. */
  readonly notServed: readonly { readonly assetId: string; readonly reason: string }[];
  /** The asset whose battery the physics simulates (one per site), if any. */
  readonly batteryAssetId: string | undefined;
  readonly battery: BatteryModel;
  /** Rated PV of the site (Σ pv.ratedPowerW), W; 0 when none is configured. */
  readonly pvRatedW: number;
  readonly devices: readonly SiteDevice[];
  readonly batteryRequestW: (context: BatteryRequestContext) => number;
  /** The PV the inverters deliver of `availableW` of sunshine (their power limits applied). */
  readonly pvOutput: (availableW: number) => PvDelivery;
}

/** Rated PV of the enabled PV and hybrid inverters (Σ pv.ratedPowerW), W. */
export function ratedPvW(site: SiteConfig): number {
  return site.assets.reduce(
    (sum, a) =>
      sum + (a.enabled && (a.kind === 'pv-inverter' || a.kind === 'hybrid-inverter') && a.pv ? a.pv.ratedPowerW : 0),
    0,
  );
}

type BatteryAsset = Extract<AssetConfig, { kind: 'battery' }>;
type HybridAsset = Extract<AssetConfig, { kind: 'hybrid-inverter' }>;

/** Stands in when the site has no battery: no power either way. */
const NO_BATTERY: BatteryModel = BatteryModelSchema.parse({ capacityWh: 1, maxChargePowerW: 0, maxDischargePowerW: 0 });

function batteryModelOf(limits: BatteryAsset['battery']): BatteryModel {
  return BatteryModelSchema.parse({
    capacityWh: limits.capacityWh,
    maxChargePowerW: limits.maxChargePowerW,
    maxDischargePowerW: limits.maxDischargePowerW,
    minSocPct: limits.minSocPct,
    maxSocPct: limits.maxSocPct,
  });
}

/**
 * Decides which assets get which register image, who owns the (one) simulated battery, and wires each image to
 * the physics: the first `battery` asset is a CNTE cabinet whose 704 WSet drives the battery; without one, the
 * first hybrid inverter with battery limits owns it and its Growatt mode registers drive it. Grid meters and
 * load/EV sub-meters are SDM630s; hybrid inverters are Growatt SPHs, PV inverters Growatt PV string inverters.
 *
 * The sunshine is shared by PV rating; each inverter delivers its share up to its power limit (holding 3, a % of its
 * `pv.ratedPowerW`), as a real inverter's limit caps its output rather than scaling it.
 */
export function planSimulation(site: SiteConfig, options: { readonly now: () => number }): SimulationPlan {
  const enabled = site.assets.filter((a) => a.enabled);
  const batteryAsset = enabled.find((a): a is BatteryAsset => a.kind === 'battery');
  const hybridOwner = batteryAsset
    ? undefined
    : enabled.find((a): a is HybridAsset => a.kind === 'hybrid-inverter' && a.battery !== undefined);
  const batteryLimits = batteryAsset?.battery ?? hybridOwner?.battery;
  const battery = batteryLimits ? batteryModelOf(batteryLimits) : NO_BATTERY;
  const pvRatings = enabled.flatMap((a) =>
    (a.kind === 'pv-inverter' || a.kind === 'hybrid-inverter') && a.pv
      ? [{ assetId: a.id, ratedW: a.pv.ratedPowerW }]
      : [],
  );
  const pvRatedW = pvRatings.reduce((sum, p) => sum + p.ratedW, 0);
  const phases = site.grid.phases;

  const served: ServedAsset[] = [];
  const notServed: { assetId: string; reason: string }[] = [];
  const devices: SiteDevice[] = [];
  const growatts = new Map<string, GrowattInverter>();
  let batteryRequestW: (context: BatteryRequestContext) => number = () => 0;

  const serve = (asset: AssetConfig, device: SimulatedDevice, siteDevice: SiteDevice) => {
    served.push({
      assetId: asset.id,
      kind: asset.kind,
      configuredProfile: asset.profile,
      servedProfile: device.profileId,
      device,
      unitId: SIM_UNIT_ID,
    });
    devices.push(siteDevice);
  };

  for (const asset of site.assets) {
    if (!asset.enabled) {
      notServed.push({ assetId: asset.id, reason: 'disabled' });
      continue;
    }
    switch (asset.kind) {
      case 'grid-meter': {
        const meter = new Sdm630();
        serve(asset, meter, {
          update: (s) =>
            meter.update({
              powerW: s.flows.gridPowerW,
              phases,
              voltagesV: s.voltagesV,
              frequencyHz: s.flows.gridFrequencyHz,
              importKwh: GRID_METER_START_KWH.import + s.totals.gridImportWh / 1000,
              exportKwh: GRID_METER_START_KWH.export + s.totals.gridExportWh / 1000,
            }),
        });
        break;
      }
      case 'meter': {
        if (asset.measures !== 'load' && asset.measures !== 'ev') {
          notServed.push({ assetId: asset.id, reason: `sub-meter measuring '${asset.measures}' is not simulated` });
          break;
        }
        const meter = new Sdm630();
        const isLoad = asset.measures === 'load';
        serve(asset, meter, {
          update: (s) =>
            meter.update({
              powerW: isLoad ? s.flows.loadW : s.flows.evW,
              phases,
              voltagesV: s.voltagesV,
              frequencyHz: s.flows.gridFrequencyHz,
              importKwh: (isLoad ? s.totals.loadWh : s.totals.evWh) / 1000,
              exportKwh: 0,
            }),
        });
        break;
      }
      case 'battery': {
        if (asset !== batteryAsset) {
          notServed.push({ assetId: asset.id, reason: `only one battery is simulated (${batteryAsset?.id})` });
          break;
        }
        const cabinet = new CnteBattery(
          {
            capacityWh: asset.battery.capacityWh,
            maxChargePowerW: asset.battery.maxChargePowerW,
            maxDischargePowerW: asset.battery.maxDischargePowerW,
            minSocPct: asset.battery.minSocPct,
            maxSocPct: asset.battery.maxSocPct,
            maxChargeCurrentA: asset.battery.maxChargeCurrentA,
            maxDischargeCurrentA: asset.battery.maxDischargeCurrentA,
          },
          { serialNumber: `SIM-${asset.id}`, unitId: SIM_UNIT_ID },
          options.now,
        );
        batteryRequestW = () => cabinet.setpointW();
        serve(asset, cabinet, {
          tick: (nowMs) => cabinet.tick(nowMs),
          update: (s) =>
            cabinet.update({
              socPct: s.socPct,
              powerW: s.flows.batteryPowerW,
              dischargedWh: s.totals.batteryDischargeWh,
            }),
        });
        break;
      }
      case 'hybrid-inverter':
      case 'pv-inverter': {
        const inverter = asset.kind === 'hybrid-inverter' ? new GrowattSph() : new GrowattPv();
        const ownsBattery = asset === hybridOwner;
        growatts.set(asset.id, inverter);
        if (ownsBattery) {
          batteryRequestW = (context) =>
            growattBatteryRequestW(inverter.batteryMode(context.minuteOfDay), context, {
              ...battery,
              ...(batteryLimits?.ratedPowerW === undefined ? {} : { ratedPowerW: batteryLimits.ratedPowerW }),
            });
        }
        let startedAtMs: number | undefined;
        // Energies: the PV this inverter delivered, its battery if it owns it.
        const energies = (e: SiteEnergies, pvWh: number): GrowattEnergies => {
          const dischargeWh = ownsBattery ? e.batteryDischargeWh : 0;
          const chargeWh = ownsBattery ? e.batteryChargeWh : 0;
          return {
            pvWh,
            acOutWh: Math.max(0, pvWh + dischargeWh - chargeWh),
            gridImportWh: e.gridImportWh,
            gridExportWh: e.gridExportWh,
            batteryDischargeWh: dischargeWh,
            batteryChargeWh: chargeWh,
            loadWh: e.loadWh + e.evWh,
          };
        };
        serve(asset, inverter, {
          update: (s, nowMs) => {
            startedAtMs ??= nowMs;
            const pvWh = s.pvInvertersWh[asset.id] ?? { totalWh: 0, todayWh: 0 };
            inverter.update({
              pvW: s.pvInvertersW[asset.id] ?? 0,
              batteryPowerW: ownsBattery ? s.flows.batteryPowerW : 0,
              socPct: ownsBattery ? s.socPct : 0,
              hasBattery: ownsBattery,
              gridPowerW: s.flows.gridPowerW,
              loadW: s.flows.loadW + s.flows.evW,
              frequencyHz: s.flows.gridFrequencyHz,
              phases,
              voltagesV: s.voltagesV,
              total: energies(s.totals, pvWh.totalWh),
              today: energies(s.today, pvWh.todayWh),
              operatingS: Math.floor((nowMs - startedAtMs) / 1000),
            });
          },
        });
        break;
      }
      default:
        notServed.push({ assetId: asset.id, reason: `${asset.kind} has no simulated Modbus device` });
    }
  }

  const pvOutput = (availableW: number): PvDelivery => {
    if (pvRatedW === 0) return { totalW: availableW, byAssetW: {} }; // no inverter named: the profile's PV as it is
    const byAssetW: Record<string, number> = {};
    let totalW = 0;
    for (const p of pvRatings) {
      const capW = (growatts.get(p.assetId)?.pvLimitFraction() ?? 1) * p.ratedW;
      const deliveredW = Math.max(0, Math.min((availableW * p.ratedW) / pvRatedW, capW));
      byAssetW[p.assetId] = deliveredW;
      totalW += deliveredW;
    }
    return { totalW, byAssetW };
  };

  return {
    served,
    notServed,
    batteryAssetId: batteryAsset?.id ?? hybridOwner?.id,
    battery,
    pvRatedW,
    devices,
    batteryRequestW: (context) => batteryRequestW(context),
    pvOutput,
  };
}
