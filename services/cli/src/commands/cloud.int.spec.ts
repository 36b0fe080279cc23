/**
 * `voltimax cloud` over the real MQTT transport (libs/cloud) and a real Mosquitto: the gateway side is libs/cloud's
 * MqttCommandChannel with a small handler standing for the cloud-bridge (services never import each other; the
 * bridge's own end-to-end test runs it with the real arbiter).
 */
import { FAST_RECONNECT } from '@voltimax/cloud/testing';
import { MqttCommandChannel, type ReceivedCommand } from '@voltimax/cloud';
import { startMqtt, waitFor, type TestServer } from '@voltimax/testing';
import { runCli } from '../program';

jest.setTimeout(30_000);

let broker: TestServer;
let channel: MqttCommandChannel;
const received: ReceivedCommand[] = [];

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: {
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
      readFile: () => Promise.reject(new Error('no files')),
    },
  };
}

beforeAll(async () => {
  broker = await startMqtt();
  channel = new MqttCommandChannel({
    brokerUrl: broker.url,
    gatewayId: 'gw-cli',
    topicPrefix: 'cli-test',
    ...FAST_RECONNECT,
  });
  await channel.start(async (command) => {
    received.push(command);
    const { envelope } = command;
    switch (envelope.messageType) {
      case 'PingGateway':
        return {
          ok: true,
          payload: {
            gatewayId: 'gw-cli',
            version: '9.9.9',
            uptimeMs: 5_000,
            receivedAtMs: command.receivedAtMs,
            requestSentAtMs: (envelope.payload as { sentAtMs: number }).sentAtMs,
            services: [{ service: 'safety-arbiter', status: 'ok', lastSeenAtMs: command.receivedAtMs, instances: 1 }],
          },
        };
      case 'SetBatterySetpoint':
        return {
          ok: true,
          payload: {
            accepted: true,
            outcome: 'clamped',
            appliedPowerW: 5000,
            violations: ['max-discharge-power: limit 5000 W, requested 8000 W'],
          },
        };
      case 'RefreshConfiguration':
        return {
          ok: false,
          error: "configuration rejected: $.assets[0].profile: unknown profile 'acme.x'",
          payload: { changed: false, hash: 'a'.repeat(64) },
        };
    }
  });
  await waitFor(() => channel.status().state === 'online', { message: 'the gateway side online' });
});
afterAll(async () => {
  await channel?.close();
  await broker?.stop();
});

const target = () => ['--gateway', 'gw-cli', '--broker-url', broker.url, '--topic-prefix', 'cli-test'];

describe('voltimax cloud over MQTT', () => {
  it('ping prints the reply and the round trip; exit 0', async () => {
    const c = capture();
    expect(await runCli(['cloud', 'ping', ...target()], c.io)).toBe(0);
    expect(c.out.join('')).toMatch(/^PingGateway → gw-cli: ok \(round trip \d+\.\d ms\)\n {2}version 9\.9\.9, up 5 s/);
  });

  it('setpoint sends the manual setpoint and prints the outcome', async () => {
    const c = capture();
    const argv = [
      'cloud',
      'setpoint',
      ...target(),
      '--asset',
      'bat-1',
      '--power',
      '8000',
      '--duration',
      '10m',
      '--reason',
      'test',
      '--operator',
      'ops:t',
    ];
    expect(await runCli(argv, c.io)).toBe(0);
    expect(received.at(-1)?.envelope.payload).toEqual({
      assetId: 'bat-1',
      powerW: 8000,
      durationMs: 600_000,
      reason: 'test',
      operator: 'ops:t',
    });
    expect(c.out.join('')).toContain(
      'accepted: clamped, applying 5000 W\n  limited by max-discharge-power: limit 5000 W, requested 8000 W',
    );
  });

  it('refresh prints the validation errors; exit 1', async () => {
    const c = capture();
    expect(await runCli(['cloud', 'refresh', ...target(), '--json'], c.io)).toBe(1);
    const printed = JSON.parse(c.out.join('')) as { reply: { ok: boolean; error: string } };
    expect(printed.reply).toMatchObject({ ok: false, error: expect.stringMatching(/unknown profile/) });
  });

  it('a gateway that does not answer: exit 3 after the timeout', async () => {
    const c = capture();
    expect(
      await runCli(
        [
          'cloud',
          'ping',
          '--gateway',
          'gw-nobody',
          '--broker-url',
          broker.url,
          '--topic-prefix',
          'cli-test',
          '--timeout-ms',
          '500',
        ],
        c.io,
      ),
    ).toBe(3);
    expect(c.err.join('')).toMatch(/no reply from gateway gw-nobody/);
  });

  it('an unreachable broker: exit 3', async () => {
    const c = capture();
    expect(
      await runCli(
        ['cloud', 'ping', '--gateway', 'gw-cli', '--broker-url', 'mqtt://127.0.0.1:1', '--timeout-ms', '500'],
        c.io,
      ),
    ).toBe(3);
    expect(c.err.join('')).toMatch(/MQTT broker not reachable/);
  });
});
