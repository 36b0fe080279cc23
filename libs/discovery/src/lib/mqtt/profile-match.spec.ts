import type { CandidateSensor } from '../candidate';
import { matchMqttProfile } from './profile-match';

const sensor = (
  stateTopic: string,
  jsonPath: string | undefined,
  key: CandidateSensor['key'] = 'powerW',
): CandidateSensor => ({
  key,
  stateTopic,
  ...(jsonPath === undefined ? {} : { jsonPath }),
  scale: 1,
});

describe('matchMqttProfile', () => {
  it('fits Tasmota energy sensors (Tasmota discovery: tele/<topic>/SENSOR, ENERGY.*) to tasmota.energy', () => {
    const match = matchMqttProfile([
      sensor('tele/plug_kitchen/SENSOR', 'ENERGY.Power'),
      sensor('tele/plug_kitchen/SENSOR', 'ENERGY.Total', 'importEnergyWh'),
    ]);
    expect(match).toMatchObject({ profile: { id: 'tasmota.energy' }, prefix: 'plug_kitchen', matched: 2 });
  });

  it('fits nothing when the paths are not the profile fields, or the sensors disagree on the prefix', () => {
    expect(matchMqttProfile([sensor('tele/a/SENSOR', 'Power'), sensor('tele/a/SENSOR', 'Total')])).toBeUndefined();
    expect(
      matchMqttProfile([sensor('tele/a/SENSOR', 'ENERGY.Power'), sensor('tele/b/SENSOR', 'ENERGY.Total')]),
    ).toBeUndefined();
    expect(matchMqttProfile([sensor('bridge/battery_1/power/state', undefined)])).toBeUndefined();
  });

  it('needs two fitting sensors when the device has more than one', () => {
    expect(
      matchMqttProfile([sensor('tele/a/SENSOR', 'ENERGY.Power'), sensor('somewhere/else', 'x', 'socPct')]),
    ).toBeUndefined();
  });
});
