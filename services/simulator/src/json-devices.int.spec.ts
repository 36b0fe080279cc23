// The opt-in HTTP and MQTT devices over real sockets: the Peblar REST API on 127.0.0.1 (fetch), the Shelly meter
// through a real Mosquitto (startMqtt). Steps are taken by the test; the EV power closes the loop through the grid.
import { connect, type MqttClient } from 'mqtt';
import pino from 'pino';
import { SiteConfigSchema } from '@voltimax/contracts';
import { startMqtt, waitFor, type TestServer } from '@voltimax/testing';
import { resolvedSite } from './endpoints';
import { planJsonDevices, startJsonDevices, withJsonEndpoints, type JsonDevices } from './json-devices';
import { startSimulation, type Simulation } from './simulation';
import { flatProfile } from './testing/harness';
import { jsonDevicesSite } from './testing/json-site';

const TOKEN = 'f'.repeat(64);

describe('simulated HTTP and MQTT devices', () => {
  let mqtt: TestServer;
  let sim: Simulation;
  let json: JsonDevices;
  let client: MqttClient;
  const messages: { topic: string; payload: Record<string, unknown> }[] = [];
  const site = SiteConfigSchema.parse(jsonDevicesSite());
  const plan = planJsonDevices(site);
  const clock = { nowMs: Date.parse('2024-04-10T12:00:00Z') };
  let baseUrl = '';

  beforeAll(async () => {
    mqtt = await startMqtt();
    sim = await startSimulation({
      site: plan.modbusSite,
      profile: flatProfile(1_000, 0),
      speed: 1,
      startAtMs: Date.parse('2024-04-10T10:00:00Z'),
      initialSocPct: 50,
      bind: '127.0.0.1',
      basePort: 0,
      now: () => clock.nowMs,
      log: pino({ level: 'silent' }),
    });
    json = await startJsonDevices(plan, sim.site, {
      bind: '127.0.0.1',
      basePort: 0,
      mqttUrl: mqtt.url,
      advertiseMqttUrl: undefined,
      peblarToken: TOKEN,
      peblarTokenEnv: 'PEBLAR_TOKEN',
      ev: { plugged: true, carMaxCurrentA: 16, initialLimitA: 16 },
      phases: 3,
      nominalVoltageV: 230,
      now: () => clock.nowMs,
      log: pino({ level: 'silent' }),
    });
    const endpoint = json.endpoints.find((e) => e.assetId === 'ev-1');
    if (endpoint?.connection.protocol !== 'http') throw new Error('no Peblar endpoint');
    baseUrl = endpoint.connection.baseUrl;
    client = connect(mqtt.url, { protocolVersion: 5, clientId: 'sim-json-test' });
    client.on('message', (topic, payload) =>
      messages.push({ topic, payload: JSON.parse(payload.toString()) as Record<string, unknown> }),
    );
    await client.subscribeAsync('shellypro3em-grid-1/status/#', { qos: 1 });
  });

  afterAll(async () => {
    await client?.endAsync(true);
    await json?.stop();
    await sim?.stop();
    await mqtt?.stop();
  });

  const get = async (path: string, token: string | null = TOKEN) => {
    const response = await fetch(
      `${baseUrl}/api/wlac/v1/${path}`,
      token === null ? {} : { headers: { Authorization: token } },
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const patch = async (body: string) => {
    const response = await fetch(`${baseUrl}/api/wlac/v1/evinterface`, {
      method: 'PATCH',
      headers: { Authorization: TOKEN },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('plans the Peblar and the Shelly and leaves the battery to the Modbus simulation', () => {
    expect(plan.devices.map((d) => [d.kind, d.asset.id])).toEqual([
      ['peblar-http', 'ev-1'],
      ['shelly-mqtt', 'grid-1'],
    ]);
    expect(plan.modbusSite.assets.map((a) => a.id)).toEqual(['bat-1']);
    const resolved = withJsonEndpoints(
      resolvedSite(jsonDevicesSite() as unknown as Record<string, unknown>, sim.endpoints),
      json.endpoints,
    );
    const parsed = SiteConfigSchema.parse(resolved);
    expect(parsed.assets.map((a) => [a.id, a.profile, a.connection.protocol])).toEqual([
      ['bat-1', 'cnte.ess-cabinet', 'modbus-tcp'],
      ['ev-1', 'peblar.rest', 'http'],
      ['grid-1', 'shelly.pro-3em', 'mqtt'],
    ]);
    expect(parsed.assets[1]?.connection).toEqual({ protocol: 'http', baseUrl, tokenEnv: 'PEBLAR_TOKEN' });
    expect(parsed.assets[2]?.connection).toEqual({
      protocol: 'mqtt',
      topicPrefix: 'shellypro3em-grid-1',
      brokerUrl: mqtt.url,
    });
  });

  it('serves the REST API with the token, 401 without it', async () => {
    expect(await get('health')).toEqual({ status: 200, body: { AccessMode: 'ReadWrite', ApiVersion: '1.0' } });
    expect((await get('meter', null)).status).toBe(401);
    expect((await get('meter', 'wrong')).status).toBe(401);
    expect((await get('nothing')).status).toBe(404);
  });

  it('charges at the limit and the grid sees it; a PATCHed limit lowers the power on the next step', async () => {
    sim.step();
    const charging = sim.step();
    expect(charging.evLoadsW).toEqual({ 'ev-1': 11_040 });
    expect(charging.flows.gridPowerW).toBeCloseTo(1_000 + 11_040, 6);
    expect((await get('meter')).body).toMatchObject({ PowerTotal: 11_040, CurrentPhase1: 16_000 });
    expect((await get('evinterface')).body).toMatchObject({ CpState: 'State C', ChargeCurrentLimit: 16_000 });

    expect(await patch('{"ChargeCurrentLimit":6000}')).toMatchObject({
      status: 200,
      body: { ChargeCurrentLimit: 6_000 },
    });
    const slower = sim.step();
    expect(slower.flows.evW).toBe(4_140);
    expect(slower.flows.gridPowerW).toBeCloseTo(1_000 + 4_140, 6);
    expect((await get('meter')).body).toMatchObject({ PowerTotal: 4_140, CurrentPhase2: 6_000 });
  });

  it.each([
    ['not JSON', 'ChargeCurrentLimit=6000', 'body is not JSON'],
    ['below the IEC minimum', '{"ChargeCurrentLimit":3000}', 'at least 6000 mA'],
    ['a wrong type', '{"ChargeCurrentLimit":"8000"}', 'expected number'],
    ['an unknown member', '{"MaxPower":1}', 'Unrecognized key'],
  ])('refuses a PATCH with %s (400) and changes nothing', async (_what, body, message) => {
    const before = (await get('evinterface')).body['ChargeCurrentLimit'];
    const answer = await patch(body);
    expect(answer.status).toBe(400);
    expect(String(answer.body['error'])).toContain(message);
    expect((await get('evinterface')).body['ChargeCurrentLimit']).toBe(before);
  });

  it('publishes the grid meter in Shelly format after each step, and on status_update', async () => {
    messages.length = 0;
    const snapshot = sim.step();
    // A publish of an earlier step can still be on its way on a busy machine: wait for this step's.
    const em = await waitFor(
      () =>
        messages.find(
          (m) =>
            m.topic === 'shellypro3em-grid-1/status/em:0' &&
            Math.abs(Number(m.payload['total_act_power']) - snapshot.flows.gridPowerW) < 0.05,
        ),
      { message: `em:0 with total_act_power ${snapshot.flows.gridPowerW}` },
    );
    expect(em.payload['total_act_power']).toBeCloseTo(snapshot.flows.gridPowerW, 1);
    await waitFor(() => messages.find((m) => m.topic === 'shellypro3em-grid-1/status/emdata:0'), {
      message: 'emdata:0',
    });
    messages.length = 0;
    await client.publishAsync('shellypro3em-grid-1/command', 'status_update', { qos: 1 });
    await waitFor(() => messages.filter((m) => m.topic.startsWith('shellypro3em-grid-1/status/')).length >= 2, {
      message: 'statuses after status_update',
    });
    expect(json.counters()['grid-1']?.reads).toBeGreaterThanOrEqual(4);
  });
});
