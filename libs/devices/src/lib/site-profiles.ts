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
 * Checks that every asset of a site names a profile that exists, serves the asset's kind and speaks its
 * connection's protocol, and that a battery driven through a register profile has what its control needs
 * (`batteryRatingProblems`). Problems carry the JSON path of the field to fix. Assets driven by a protocol plugin
 * are left out: their profile names the plugin's own mapping, which the driver host validates.
 */
export function siteProfileProblems(site: Pick<SiteConfig, 'assets'>): ValidationProblem[] {
  const problems: ValidationProblem[] = [];
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
