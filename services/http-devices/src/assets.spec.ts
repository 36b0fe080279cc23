import { planAssets } from './assets';
import { mqttAsset, p1Asset, peblarAsset, siteWith } from './testing/site';

const DEFAULT = { url: 'mqtt://127.0.0.1:1883', mqttVersion: '3.1.1' as const };

describe('planAssets', () => {
  it('owns the enabled HTTP and MQTT assets and leaves the rest', () => {
    const site = siteWith([
      peblarAsset('ev-1', 'http://192.0.2.30', { tokenEnv: 'PEBLAR_TOKEN' }),
      p1Asset('grid-1', 'http://192.0.2.40'),
      mqttAsset('sub-1', 'meter', 'tasmota.energy', 'plug-1'),
      { ...mqttAsset('sub-2', 'meter', 'tasmota.energy', 'plug-2'), enabled: false },
      {
        id: 'bat-1',
        name: 'b',
        kind: 'battery',
        profile: 'cnte.ess-cabinet',
        connection: { protocol: 'modbus-tcp', host: 'h', unitId: 1 },
        battery: { capacityWh: 1, maxChargePowerW: 1, maxDischargePowerW: 1 },
      },
    ]);
    const plan = planAssets(site, { PEBLAR_TOKEN: 'secret-token' }, DEFAULT);
    expect(plan.problems).toEqual([]);
    expect(plan.notOurs).toEqual(['sub-2', 'bat-1']);
    expect(plan.owned.map((a) => [a.id, a.protocol, a.driver.kind])).toEqual([
      ['ev-1', 'http', 'http'],
      ['grid-1', 'http', 'http'],
      ['sub-1', 'mqtt', 'mqtt'],
    ]);
    const ev = plan.owned[0]?.driver;
    expect(ev?.kind === 'http' && [ev.profile.id, ev.baseUrl, ev.token]).toEqual([
      'peblar.rest',
      'http://192.0.2.30',
      'secret-token',
    ]);
    expect(plan.brokers).toEqual([{ url: 'mqtt://127.0.0.1:1883', protocolVersion: 4 }]);
  });

  it('keeps an asset with a wrong profile or prefix as unusable, with the reason', () => {
    const site = siteWith([
      { ...p1Asset('m-1', 'http://h'), profile: 'eastron.sdm630' },
      { ...p1Asset('m-2', 'http://h'), profile: 'shelly.pro-3em' },
      { ...peblarAsset('ev-1', 'http://h'), profile: 'homewizard.p1' },
      mqttAsset('m-3', 'meter', 'tasmota.energy', 'plugs/+'),
      mqttAsset('m-4', 'meter', 'acme.nothing', 'x'),
    ]);
    const plan = planAssets(site, {}, DEFAULT);
    expect(plan.owned.map((a) => [a.id, a.driver.kind === 'unusable' ? a.driver.reason : a.driver.kind])).toEqual([
      ['m-1', "profile 'eastron.sdm630' speaks modbus, not http"],
      ['m-2', "profile 'shelly.pro-3em' speaks mqtt, not http"],
      ['ev-1', "profile 'homewizard.p1' is a meter profile and cannot serve a ev-charger"],
      ['m-3', "topic prefix 'plugs/+' contains +, # or NUL"],
      ['m-4', expect.stringContaining("unknown profile 'acme.nothing'")],
    ]);
  });

  it('names unset secrets and missing brokers as configuration problems (never their values)', () => {
    const site = siteWith([
      peblarAsset('ev-1', 'http://h', { tokenEnv: 'PEBLAR_TOKEN' }),
      {
        ...mqttAsset('m-1', 'meter', 'tasmota.energy', 'p', { brokerUrl: 'mqtt://b:1883' }),
        connection: { protocol: 'mqtt', topicPrefix: 'p', brokerUrl: 'mqtt://b:1883', passwordEnv: 'BROKER_PASS' },
      },
      mqttAsset('m-2', 'meter', 'tasmota.energy', 'q'),
    ]);
    const plan = planAssets(site, { PEBLAR_TOKEN: '' }, { url: undefined, mqttVersion: '3.1.1' });
    expect(plan.problems).toEqual([
      { variable: 'PEBLAR_TOKEN', message: "the API token of asset 'ev-1' (named in the site file) is not set" },
      { variable: 'BROKER_PASS', message: "the broker password of asset 'm-1' (named in the site file) is not set" },
      { variable: 'MQTT_URL', message: "asset 'm-2' names no brokerUrl and MQTT_URL (the default broker) is not set" },
    ]);
  });

  it('makes one connection per broker, with its MQTT version; two versions for one broker are a problem', () => {
    const ok = planAssets(
      siteWith([
        mqttAsset('a', 'meter', 'tasmota.energy', 'a'),
        mqttAsset('b', 'meter', 'tasmota.energy', 'b', { brokerUrl: 'mqtt://other:1883', mqttVersion: '5.0' }),
        mqttAsset('c', 'grid-meter', 'shelly.pro-3em', 'c', { brokerUrl: 'mqtt://other:1883', mqttVersion: '5.0' }),
      ]),
      { MQTT_PASSWORD: 'x' },
      { ...DEFAULT, mqttVersion: '5.0', username: 'gw', password: 'pw' },
    );
    expect(ok.brokers).toEqual([
      { url: 'mqtt://127.0.0.1:1883', protocolVersion: 5, username: 'gw', password: 'pw' },
      { url: 'mqtt://other:1883', protocolVersion: 5 },
    ]);
    const clash = planAssets(
      siteWith([
        mqttAsset('a', 'meter', 'tasmota.energy', 'a', { brokerUrl: 'mqtt://other:1883' }),
        mqttAsset('b', 'meter', 'tasmota.energy', 'b', { brokerUrl: 'mqtt://other:1883', mqttVersion: '5.0' }),
      ]),
      {},
      DEFAULT,
    );
    expect(clash.problems).toEqual([
      {
        variable: 'SITE_FILE',
        message:
          "assets 'a' and 'b' use broker mqtt://other:1883 with different MQTT versions (one connection per broker)",
      },
    ]);
  });
});
