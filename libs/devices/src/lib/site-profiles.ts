import type { AssetKind, SiteConfig, ValidationProblem } from '@voltimax/contracts';
import type { DeviceProfile, ProfileKind } from './profile-schema';
import { profileKinds } from './profile-schema';
import { allProfiles, getProfile } from './registry';

/** Which profile kinds can serve an asset of each kind. */
const SERVES: Readonly<Record<AssetKind, readonly ProfileKind[]>> = {
  battery: ['battery', 'hybrid-inverter'],
  'hybrid-inverter': ['hybrid-inverter'],
  'pv-inverter': ['pv-inverter', 'hybrid-inverter'],
  'grid-meter': ['meter'],
  meter: ['meter'],
  'ev-charger': ['ev-charger'],
  load: ['meter'],
};

/** Which profile protocols each connection protocol can speak. */
const SPEAKS: Readonly<
  Record<Exclude<SiteConfig['assets'][number]['connection']['protocol'], 'plugin'>, readonly DeviceProfile['protocol'][]>
> = {
  'modbus-tcp': ['modbus', 'sunspec'],
  'modbus-rtu-tcp': ['modbus', 'sunspec'],
  'modbus-rtu': ['modbus', 'sunspec'],
  ocpp: ['ocpp'],
  http: ['http'],
  mqtt: ['mqtt'],
  simulated: ['modbus', 'sunspec', 'ocpp', 'http', 'mqtt'],
};

type SiteAsset = SiteConfig['assets'][number];

/**
 * What a register profile's battery-power control needs from the asset's battery section: a profile taking a % of
 * the rating needs `ratedPowerW`; an inexact one (`exact: false`, the device's own modes) cannot keep a charge or
 * discharge limit below that rating.
 */
function batteryRatingProblems(asset: SiteAsset, index: number, profile: DeviceProfile): ValidationProblem[] {
  if ((asset.kind !== 'battery' && asset.kind !== 'hybrid-inverter') || asset.battery === undefined) return [];
  if (profile.protocol !== 'modbus') return [];
  const control = profile.controls.find((c) => c.setpoint === 'battery-power');
  if (control === undefined) return [];
  const path = `$.assets[${index}].battery`;
  const rated = asset.battery.ratedPowerW;
  if (control.scaling !== 'value' && rated === undefined) {
    return [
      {
        path: `${path}.ratedPowerW`,
        message: `profile '${profile.id}' takes battery power in % of the device's rating: give the rating (nameplate W) as battery.ratedPowerW; a % of maxChargePowerW would overshoot that limit`,
      },
    ];
  }
  if (control.exact || rated === undefined) return [];
  // an inexact control hands the battery to the device's own modes (Growatt: load-first discharge covers the load,
  // hold stores PV surplus), which run up to the rating whatever the set-point asked
  return (['maxChargePowerW', 'maxDischargePowerW'] as const).flatMap((key) =>
    asset.battery !== undefined && asset.battery[key] < rated
      ? [
          {
            path: `${path}.${key}`,
            message: `profile '${profile.id}' leaves the battery to the device's own modes, which run up to its rating (ratedPowerW ${rated} W): ${key} ${asset.battery[key]} W cannot be kept. Set it to at least the rating, or lower the device's own maximum in its settings and give that as ratedPowerW`,
          },
        ]
      : [],
  );
}

/**
 * The measurement keys a profile reads (register points and derived values, JSON fields), or undefined where only
 * the device tells (SunSpec discovery, OCPP).
 */
export function profileReadKeys(profile: DeviceProfile): ReadonlySet<string> | undefined {
  switch (profile.protocol) {
    case 'modbus':
      return new Set([...profile.points.map((p) => p.key), ...profile.derived.map((d) => d.key)]);
    case 'http':
      return new Set(profile.reads.flatMap((r) => r.fields.map((f) => f.key)));
    case 'mqtt':
      return new Set(profile.topics.flatMap((t) => t.fields.map((f) => f.key)));
    default:
      return undefined;
  }
}

/**
 * `grid.maxPhaseCurrentA` needs a grid reading with a power or current per phase (the arbiter checks each phase on
 * it). The arbiter reads the grid from the first grid meter, else from a hybrid inverter, which reports the total
 * only: with such a source the limit would be set but never enforced, so the site is refused.
 */
function phaseLimitProblem(site: Pick<SiteConfig, 'assets' | 'grid'>): ValidationProblem | undefined {
  const maxA = site.grid.maxPhaseCurrentA;
  if (maxA === undefined) return undefined;
  const enabled = site.assets.filter((a) => a.enabled);
  const source = enabled.find((a) => a.kind === 'grid-meter') ?? enabled.find((a) => a.kind === 'hybrid-inverter');
  if (source === undefined || source.connection.protocol === 'plugin') return undefined;
  const path = '$.grid.maxPhaseCurrentA';
  const fix = 'add a grid meter with phase values or drop the limit';
  if (source.kind === 'hybrid-inverter') {
    return {
      path,
      message: `${maxA} A cannot be enforced: the grid reading comes from hybrid inverter '${source.id}', which reports the total only; ${fix}`,
    };
  }
  const profile = getProfile(source.profile);
  const keys = profile === undefined ? undefined : profileReadKeys(profile);
  if (keys === undefined) return undefined;
  const missing = [1, 2, 3]
    .slice(0, site.grid.phases)
    .filter((n) => !keys.has(`powerL${n}W`) && !keys.has(`currentL${n}A`))
    .map((n) => `L${n}`);
  if (missing.length === 0) return undefined;
  return {
    path,
    message: `${maxA} A cannot be enforced: grid meter '${source.id}' (profile '${source.profile}') reports no power or current on ${missing.join(', ')}; ${fix}`,
  };
}

/**
 * Checks that every asset of a site names a profile that exists, serves the asset's kind and speaks its
 * connection's protocol, that a battery driven through a register profile has what its control needs
 * (`batteryRatingProblems`), and, given the grid section, that a phase-current limit can be enforced
 * (`phaseLimitProblem`). Problems carry the JSON path of the field to fix. Assets driven by a protocol plugin are
 * left out: their profile names the plugin's own mapping, which the driver host validates.
 */
export function siteProfileProblems(site: Pick<SiteConfig, 'assets'> & Partial<Pick<SiteConfig, 'grid'>>): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
  const phaseProblem = site.grid === undefined ? undefined : phaseLimitProblem({ assets: site.assets, grid: site.grid });
  if (phaseProblem !== undefined) problems.push(phaseProblem);
  site.assets.forEach((asset, index) => {
    const protocol = asset.connection.protocol;
    if (protocol === 'plugin') return;
    const profile = getProfile(asset.profile);
    if (!profile) {
      const known = allProfiles.map((p) => p.id).join(', ');
      problems.push({ path: `$.assets[${index}].profile`, message: `unknown profile '${asset.profile}' (known: ${known})` });
      return;
    }
    const kinds = profileKinds(profile);
    if (!kinds.some((k) => SERVES[asset.kind].includes(k))) {
      problems.push({ path: `$.assets[${index}].profile`, message: `profile '${profile.id}' is a ${kinds.join('/')} profile and cannot serve a ${asset.kind}` });
    }
    if (!SPEAKS[protocol].includes(profile.protocol)) {
      problems.push({
        path: `$.assets[${index}].connection.protocol`,
        message: `profile '${profile.id}' speaks ${profile.protocol}, not ${protocol}`,
      });
    }
    problems.push(...batteryRatingProblems(asset, index, profile));
  });
  return problems;
}
