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

/**
 * Checks that every asset of a site names a profile that exists, serves the asset's kind and speaks its
 * connection's protocol. Problems carry the JSON path of the asset's `profile` or `connection`. Assets driven by a
 * protocol plugin are left out: their profile names the plugin's own mapping, which the driver host validates.
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
  });
  return problems;
}
