// Home Assistant discovery against a real Mosquitto: retained config messages as real integrations publish them.
import { connectAsync, type MqttClient } from 'mqtt';
import { startMqtt, type TestServer } from '@voltimax/testing';
import {
  HA_DSMR_DEVICE,
  HA_GARBAGE,
  HA_HOME_BATTERY,
  HA_IGNORED,
  HA_SHELLY_PRO3EM,
  HA_ZIGBEE_DOOR,
} from '../testing/ha-payloads';
import { discoverHomeAssistant, MqttDiscoveryError } from './collect';

let broker: TestServer;
let publisher: MqttClient;
const retained: string[] = [];

beforeAll(async () => {
  broker = await startMqtt();
  publisher = await connectAsync(broker.url, { protocolVersion: 5, clientId: `ha-fixture-${process.pid}` });
  const json: (readonly [string, string])[] = [
    ...HA_SHELLY_PRO3EM,
    ...HA_HOME_BATTERY,
    HA_DSMR_DEVICE,
    HA_ZIGBEE_DOOR,
  ].map(([topic, payload]) => [topic, JSON.stringify(payload)] as const);
  for (const [topic, payload] of [...json, ...HA_IGNORED, ...HA_GARBAGE]) {
    await publisher.publishAsync(topic, payload, { retain: true, qos: 1 });
    retained.push(topic);
  }
});

afterAll(async () => {
  // an empty retained message removes the retained one (matters when MQTT_URL points at a shared broker)
  for (const topic of retained) await publisher.publishAsync(topic, '', { retain: true, qos: 1 });
  await publisher?.endAsync();
  await broker?.stop();
});

describe('discoverHomeAssistant against Mosquitto', () => {
  it('turns the retained discovery configs into one candidate per energy device, and counts the rest', async () => {
    const result = await discoverHomeAssistant({ brokerUrl: broker.url, durationMs: 1_500 });
    expect(result.candidates.map((c) => [c.kind, c.identity.manufacturer, c.sensors?.map((s) => s.key)])).toEqual(
      expect.arrayContaining([
        ['meter', 'Allterco Robotics', ['powerW', 'importEnergyWh', 'exportEnergyWh', 'currentL2A']],
        ['battery', 'Pylontech', ['socPct', 'powerW']],
        ['grid-meter', 'Landis+Gyr', ['powerW', 'importEnergyWh', 'exportEnergyWh']],
      ]),
    );
    expect(result.candidates).toHaveLength(3);
    const battery = result.candidates.find((c) => c.kind === 'battery');
    expect(battery?.connection).toEqual({ protocol: 'mqtt', topicPrefix: 'bridge/battery_1', brokerUrl: broker.url });
    expect(battery?.sensors).toContainEqual({
      key: 'powerW',
      stateTopic: 'bridge/battery_1/power/state',
      unit: 'kW',
      scale: 1000,
    });
    // 4 Shelly + 2 battery + 1 device message (3 sensors) + door + 2 ignored + 6 garbage
    expect(result.messages).toBe(16);
    expect(result.sensors).toBe(10);
    expect(Object.values(result.rejected).reduce((a, b) => a + b, 0)).toBe(6);
    expect(result.rejected).toMatchObject({ 'payload is not JSON': 1, 'value_template is not a simple JSON path': 1 });
    expect(result.ignored).toEqual({ 'component switch': 1, 'not an energy sensor (device_class temperature)': 1 });
    expect(result.skipped).toEqual([expect.objectContaining({ device: 'zigbee2mqtt_0x00158d0001a2b3c4' })]);
  });

  it('stops early on abort and fails clearly when the broker is not there', async () => {
    const controller = new AbortController();
    controller.abort();
    const aborted = await discoverHomeAssistant({
      brokerUrl: broker.url,
      durationMs: 60_000,
      signal: controller.signal,
    });
    expect(aborted.candidates.length).toBeLessThanOrEqual(3);
    await expect(
      discoverHomeAssistant({ brokerUrl: 'mqtt://127.0.0.1:1', connectTimeoutMs: 2_000 }),
    ).rejects.toBeInstanceOf(MqttDiscoveryError);
  });
});
