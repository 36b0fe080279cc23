// http-devices' MQTT side against a real Mosquitto (startMqtt): the simulator's Shelly Pro 3EM grid meter (simulator
// process, MQTT 3.1.1), a Tasmota sub-meter whose messages this test publishes (the service reaches that broker over
// MQTT 5.0), and a Shelly Plus 1PM double switching an EV charger (writes as MQTT commands). Garbage payloads, wrong
// JSON types, silence and devices that do not follow a command each give a clear error, a counter, and no crash.
// A second relay sits behind a TCP proxy that can swallow traffic and cut the link.
import { connect, type MqttClient } from 'mqtt';
import {
  NATS_CONFIG_PATH,
  startMqtt,
  startNats,
  waitFor,
  type NatsTestServer,
  type TestServer,
} from '@voltimax/testing';
import type { AssetReading } from '@voltimax/contracts';
import {
  connectAs,
  newestReading,
  runHttpDevices,
  sendWrite,
  writeSite,
  type BusClient,
  type RunningService,
} from './testing/harness';
import { startBrokerProxy, type BrokerProxy } from './testing/broker-proxy';
import { startShellySwitchDouble, type ShellySwitchDouble } from './testing/shelly-switch-double';
import { mqttAsset } from './testing/site';
import { startSimulatorProcess, type SimulatorProcess } from './testing/simulator';

const SENSOR = (power: unknown, total: unknown = 152.371) =>
  JSON.stringify({
    Time: '2024-04-10T12:00:00',
    ENERGY: {
      TotalStartTime: '2023-11-02T18:01:12',
      Total: total,
      Yesterday: 1.204,
      Today: 0.612,
      Period: 4,
      Power: power,
      Voltage: 229,
      Current: 1.07,
    },
  });

describe('http-devices over MQTT', () => {
  let nats: NatsTestServer;
  let mqtt: TestServer;
  let sim: SimulatorProcess;
  let service: RunningService;
  let observer: BusClient;
  let arbiter: BusClient;
  let plug: MqttClient;
  let relay: ShellySwitchDouble;
  let garageRelay: ShellySwitchDouble;
  let proxy: BrokerProxy;
  let site: { remove(): void } | undefined;
  const clients = new Map<string, MqttClient>();
  // The same broker under a second URL: a second connection, this one speaking MQTT 5.0.
  let v5Url = '';
  // … and under a third, with credentials in it (Mosquitto here takes any): they must never be logged or published.
  let secretUrl = '';

  beforeAll(async () => {
    [nats, mqtt] = await Promise.all([startNats({ config: NATS_CONFIG_PATH }), startMqtt()]);
    v5Url = `${mqtt.url}/`;
    secretUrl = mqtt.url.replace('mqtt://', 'mqtt://gateway:S3cretBrokerPw@');
    sim = await startSimulatorProcess(
      nats.url,
      {
        v: 1,
        gatewayId: 'gw-mqtt-test',
        siteName: 'http-devices MQTT test site',
        timezone: 'Europe/Paris',
        grid: { maxImportW: 22_000, maxExportW: 6_000, phases: 3 },
        assets: [
          {
            id: 'grid-1',
            name: 'Shelly Pro 3EM',
            kind: 'grid-meter',
            profile: 'shelly.pro-3em',
            connection: { protocol: 'simulated' },
            pollIntervalMs: 500,
          },
        ],
        strategy: { active: ['null'] },
        tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
      },
      { MQTT_URL: mqtt.url },
    );
    plug = connect(mqtt.url, { protocolVersion: 5, clientId: 'tasmota-plug-double' });
    await new Promise<void>((resolve) => plug.once('connect', () => resolve()));
    relay = await startShellySwitchDouble(mqtt.url, 'shellyplus1pm-wallbox');
    garageRelay = await startShellySwitchDouble(mqtt.url, 'shellyplus1pm-garage');
    proxy = await startBrokerProxy(mqtt.url);
    const file = writeSite({
      ...sim.raw,
      assets: [
        ...(sim.raw['assets'] as unknown[]),
        mqttAsset('plug-1', 'meter', 'tasmota.energy', 'plug-dryer', {
          brokerUrl: v5Url,
          mqttVersion: '5.0',
          pollIntervalMs: 250,
        }),
        mqttAsset('ev-2', 'ev-charger', 'shelly.plus-1pm', 'shellyplus1pm-wallbox', { pollIntervalMs: 250 }),
        // Polled every minute: its reading must still go out when its message comes, not on the next tick.
        mqttAsset('plug-2', 'meter', 'tasmota.energy', 'plug-heater', {
          brokerUrl: v5Url,
          mqttVersion: '5.0',
          pollIntervalMs: 60_000,
        }),
        // Reached through the proxy (the relay double itself talks to the broker directly).
        mqttAsset('ev-3', 'ev-charger', 'shelly.plus-1pm', 'shellyplus1pm-garage', {
          brokerUrl: proxy.url,
          pollIntervalMs: 250,
        }),
        // Never speaks: its error readings name the broker.
        mqttAsset('plug-3', 'meter', 'tasmota.energy', 'plug-silent', { brokerUrl: secretUrl, pollIntervalMs: 250 }),
      ],
    });
    site = file;
    [observer, arbiter] = await Promise.all([
      connectAs(nats.url, 'dashboard', true),
      connectAs(nats.url, 'safety-arbiter', false),
    ]);
    // ev-2 names no broker: it uses MQTT_URL (MQTT 3.1.1 by default), the broker the simulator's meter is on too.
    service = await runHttpDevices({
      natsUrl: nats.url,
      siteFile: file.path,
      env: { MQTT_URL: mqtt.url },
      connectBroker: (url, options) => {
        const client = connect(url, options);
        clients.set(url, client);
        return client;
      },
    });
  }, 60_000);

  afterAll(async () => {
    await service?.stop();
    await Promise.all([
      observer?.close(),
      arbiter?.close(),
      plug?.endAsync(true),
      relay?.close(),
      garageRelay?.close(),
      proxy?.close(),
    ]);
    await sim?.stop();
    site?.remove();
    await Promise.all([nats?.stop(), mqtt?.stop()]);
  });

  const reading = (assetId: string, predicate: (r: AssetReading) => boolean, message: string) =>
    waitFor(() => newestReading(observer.readings, assetId, predicate), { timeoutMs: 8_000, message });
  const after = (assetId: string, since: number, predicate: (r: AssetReading) => boolean, message: string) =>
    waitFor(() => observer.readings.slice(since).find((r) => r.assetId === assetId && predicate(r)), {
      timeoutMs: 8_000,
      message,
    });
  const heartbeat = (predicate: (counters: Readonly<Record<string, number>>) => boolean, message: string) =>
    waitFor(
      () => observer.heartbeats.filter((h) => h.service === 'http-devices').find((h) => predicate(h.counters ?? {})),
      {
        timeoutMs: 8_000,
        message,
      },
    );

  it('connects one client per broker URL, each with its MQTT version', async () => {
    const planned = service.lines.find((l) => l.msg === 'assets planned');
    expect(planned?.['brokers']).toEqual([
      { url: mqtt.url, mqttVersion: '3.1.1', auth: false },
      { url: v5Url, mqttVersion: '5.0', auth: false },
      { url: proxy.url, mqttVersion: '3.1.1', auth: false },
      { url: mqtt.url.replace('mqtt://', 'mqtt://[redacted]@'), mqttVersion: '3.1.1', auth: false },
    ]);
    await waitFor(() => [...clients.values()].every((c) => c.connected), { message: 'all broker connections up' });
    expect([...clients.entries()].map(([url, c]) => [url, c.options.protocolVersion])).toEqual([
      [mqtt.url, 4],
      [v5Url, 5],
      [proxy.url, 4],
      [secretUrl, 4],
    ]);
  });

  it('publishes the simulated Shelly grid meter (grid + = import) with its energy counters', async () => {
    const good = await reading(
      'grid-1',
      (r) => r.quality === 'good' && r.values.importEnergyWh !== undefined,
      'a good grid reading',
    );
    expect(good.kind).toBe('grid-meter');
    expect(good.values.powerW).toBeDefined();
    expect(good.values.powerL1W).toBeCloseTo((good.values.powerW ?? 0) / 3, 0);
    expect(good.values.importEnergyWh).toBeGreaterThanOrEqual(2_345_678);
    expect(good.values.voltageL2V).toBeGreaterThan(220);
  });

  it('publishes the Tasmota plug it hears over MQTT 5.0', async () => {
    await plug.publishAsync('tele/plug-dryer/SENSOR', SENSOR(231), { qos: 1 });
    const good = await reading('plug-1', (r) => r.quality === 'good', 'a good plug reading');
    expect(good.values).toEqual({ powerW: 231, voltageL1V: 229, currentL1A: 1.07, importEnergyWh: 152_371 });
  });

  it('publishes a reading as its message comes, not on the next poll tick (plug-2 ticks once a minute)', async () => {
    const since = observer.readings.length;
    await plug.publishAsync('tele/plug-heater/SENSOR', SENSOR(1_800), { qos: 1 });
    const good = await after('plug-2', since, (r) => r.quality === 'good', 'a reading within seconds, not a minute');
    expect(good.values.powerW).toBe(1_800);
  });

  it('garbage payloads: an error reading naming them, counted, and recovery on the next good message', async () => {
    let since = observer.readings.length;
    await plug.publishAsync('tele/plug-dryer/SENSOR', 'Power=231W', { qos: 1 });
    const garbage = await after('plug-1', since, (r) => r.quality === 'error', 'an error reading for garbage');
    expect(garbage.error).toMatch(/^sensor: payload not JSON: /);
    expect(garbage.values).toEqual({});
    await plug.publishAsync('tele/plug-dryer/SENSOR', Buffer.from([0xff, 0xfe, 0x00]), { qos: 1 });
    await after('plug-1', since, (r) => r.error === 'sensor: payload is not UTF-8 text', 'not UTF-8');

    since = observer.readings.length;
    await plug.publishAsync('tele/plug-dryer/SENSOR', SENSOR('231', 153), { qos: 1 });
    const typed = await after('plug-1', since, (r) => r.quality === 'error', 'an error reading for a wrong type');
    expect(typed.error).toBe('sensor: malformed: $.ENERGY.Power is string, expected number');
    expect(typed.values).toEqual({ voltageL1V: 229, currentL1A: 1.07, importEnergyWh: 153_000 });

    since = observer.readings.length;
    await plug.publishAsync('tele/plug-dryer/SENSOR', SENSOR(240, 153.5), { qos: 1 });
    await after('plug-1', since, (r) => r.quality === 'good' && r.values.powerW === 240, 'recovered');
    await heartbeat((c) => (c['mqttGarbage'] ?? 0) >= 2 && (c['mqttMalformedFields'] ?? 0) >= 1, 'garbage counted');
  });

  it('a silent device: the last good values go out as stale, with what is missing', async () => {
    const since = observer.readings.length;
    const stale = await after('plug-1', since, (r) => r.quality === 'stale', 'a stale reading');
    expect(stale.values.powerW).toBe(240);
    expect(stale.error).toMatch(
      /^no message on tele\/plug-dryer\/SENSOR \(\d+ ms\); broker mqtt:\/\/127\.0\.0\.1:\d+\/ online$/,
    );
    await heartbeat((c) => (c['mqttStaleReadings'] ?? 0) >= 1, 'stale readings counted');
  });

  it('switches the relay charger with MQTT commands, confirmed by its status', async () => {
    // The listener asks the relay for its status every silent interval: readings arrive without any command.
    await reading('ev-2', (r) => r.quality === 'good' && r.values.powerW === 0, 'the relay off');
    expect(await sendWrite(arbiter.bus, 'ev-2', { kind: 'ev-current', currentA: 16 })).toMatchObject({
      status: 'applied',
    });
    expect(relay.commands).toContain('on');
    await reading('ev-2', (r) => r.values.powerW === 3_680.2, 'the charger on');
    expect(await sendWrite(arbiter.bus, 'ev-2', { kind: 'ev-current', currentA: 10 })).toMatchObject({
      status: 'unchanged',
    });
    expect(await sendWrite(arbiter.bus, 'ev-2', { kind: 'ev-current', currentA: 0 })).toMatchObject({
      status: 'applied',
    });
    expect(relay.commands).toEqual(['on', 'off']);
    await reading('ev-2', (r) => r.values.powerW === 0, 'the charger off again');
  });

  it('a relay that does not follow: mismatch; one that says nothing: timeout', async () => {
    relay.behaviour = 'stuck';
    const stuck = await sendWrite(arbiter.bus, 'ev-2', { kind: 'ev-current', currentA: 16 });
    expect(stuck).toMatchObject({ status: 'mismatch' });
    expect(stuck.error).toBe(
      'sent on to shellyplus1pm-wallbox/command/switch:0; the device reports relayOn=0, expected 1',
    );
    relay.behaviour = 'silent';
    const silent = await sendWrite(arbiter.bus, 'ev-2', { kind: 'ev-current', currentA: 16 });
    expect(silent.status).toBe('timeout');
    expect(silent.error).toBe("no status on 'switch' within 2000 ms after shellyplus1pm-wallbox/command/switch:0 ← on");
    relay.behaviour = 'obey';
    await heartbeat(
      (c) => (c['writeMismatches'] ?? 0) >= 1 && (c['writeTimeouts'] ?? 0) >= 1,
      'write failures counted',
    );
  });

  it('a status that is no longer fresh does not make a write unchanged: the command is sent', async () => {
    await reading('ev-2', (r) => r.quality === 'good' && r.values.powerW === 0, 'the relay reported off');
    // The relay stops reporting and is switched on locally (button, restore on power-up).
    relay.behaviour = 'silent';
    relay.output = true;
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // 6 poll intervals: its status is stale by now
    const sent = relay.commands.length;
    const off = await sendWrite(arbiter.bus, 'ev-2', { kind: 'ev-current', currentA: 0 });
    relay.behaviour = 'obey';
    expect({ status: off.status, commands: relay.commands.slice(sent) }).toEqual({
      status: 'timeout', // sent, but the silent relay did not confirm it
      commands: ['off'],
    });
    relay.output = false;
  });

  it('a command not acknowledged in time is withdrawn: it never reaches the device after the write expired', async () => {
    await reading('ev-3', (r) => r.quality === 'good' && r.values.powerW === 0, 'the garage relay off');
    proxy.frozen = true; // the link is dead, but the client does not know yet
    const expiresAtMs = Date.now() + 3_000;
    const on = await sendWrite(arbiter.bus, 'ev-3', { kind: 'ev-current', currentA: 16 }, { expiresAtMs });
    expect(on).toMatchObject({
      status: 'failed',
      error: 'publish shellyplus1pm-garage/command/switch:0: no PUBACK within 2000 ms; the command was withdrawn',
    });
    await new Promise((resolve) => setTimeout(resolve, expiresAtMs - Date.now() + 200)); // the write has expired
    proxy.cut();
    proxy.frozen = false; // the link comes back; the service reconnects
    // The watchdog's safe set-point (relay off) goes out once the link is back; the expired 'on' never does.
    await waitFor(() => garageRelay.commands.includes('off'), { timeoutMs: 8_000, message: 'the safe off' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect({ commands: [...new Set(garageRelay.commands)], output: garageRelay.output }).toEqual({
      commands: ['off'],
      output: false,
    });
  }, 20_000);

  it('never logs or publishes the credentials of a broker URL', async () => {
    const silent = await reading('plug-3', (r) => r.quality === 'error', 'an error reading of the silent plug');
    expect(silent.error).toMatch(/; broker mqtt:\/\/\[redacted\]@127\.0\.0\.1:\d+ online$/);
    expect(service.lines.some((l) => l['broker'] === mqtt.url.replace('mqtt://', 'mqtt://[redacted]@'))).toBe(true);
    const leaks = [
      ...service.lines.map((l) => JSON.stringify(l)),
      ...observer.readings.map((r) => r.error ?? ''),
    ].filter((text) => text.includes('S3cret'));
    expect(leaks).toEqual([]);
  });

  it('never crashed: the service still answers and logged nothing fatal', async () => {
    expect(await sendWrite(arbiter.bus, 'ev-2', { kind: 'safe' })).toMatchObject({
      status: expect.stringMatching(/^(applied|unchanged)$/),
    });
    expect(service.lines.filter((l) => l.level >= 60)).toEqual([]);
    expect(service.lines.some((l) => l.msg === 'garbage payload dropped')).toBe(true);
  });
});
