// `voltimax discover` end to end: a Modbus scan of loopback addresses served by the independent pymodbus peer, Home
// Assistant discovery from a real Mosquitto, results published on a real nats-server with the project's users,
// `--serve` answering `discovery.request`, and `--apply` writing assets.json through `assets add`.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects, type DiscoveryFound } from '@voltimax/contracts';
import {
  CNTE_MAP,
  HA_HOME_BATTERY,
  HA_SHELLY_PRO3EM,
  SDM630_MAP,
  startPeerOn,
  type HostPeer,
} from '@voltimax/discovery/testing';
import {
  connectNatsAs,
  freePort,
  NATS_CONFIG_PATH,
  NATS_DEV_PASSWORDS,
  type NatsTestServer,
  startMqtt,
  startNats,
  type TestServer,
  waitFor,
} from '@voltimax/testing';
import { connectAsync } from 'mqtt';
import { Command } from 'commander';
import { CliExit, type CliIo } from '../io';
import { defaultArbiterCliDeps } from './arbiter-nats';
import { registerDiscoverCommand, type DiscoverDeps } from './discover';

const NET = '127.43.0';
let port: number;
let peers: HostPeer[] = [];
let nats: NatsTestServer;
let mqtt: TestServer;
let dir: string;
let site: string;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  port = await freePort();
  [nats, mqtt, ...peers] = await Promise.all([
    startNats({ config: NATS_CONFIG_PATH }),
    startMqtt(),
    startPeerOn(`${NET}.2`, port, CNTE_MAP),
    startPeerOn(`${NET}.3`, port, SDM630_MAP),
  ] as const);
  const publisher = await connectAsync(mqtt.url, { protocolVersion: 5 });
  for (const [topic, payload] of [...HA_HOME_BATTERY, ...HA_SHELLY_PRO3EM])
    await publisher.publishAsync(topic, JSON.stringify(payload), { retain: true, qos: 1 });
  await publisher.endAsync();
  // (a private broker from startMqtt; with MQTT_URL set, afterAll removes the retained configs again)
  dir = mkdtempSync(join(tmpdir(), 'voltimax-discover-'));
  site = join(dir, 'assets.json');
}, 60_000);

beforeEach(() =>
  writeFileSync(site, readFileSync(join(__dirname, '../../../../docker/config/assets.example.json'), 'utf8')),
);

afterAll(async () => {
  if (mqtt) {
    const cleaner = await connectAsync(mqtt.url, { protocolVersion: 5 });
    for (const [topic] of [...HA_HOME_BATTERY, ...HA_SHELLY_PRO3EM])
      await cleaner.publishAsync(topic, '', { retain: true, qos: 1 });
    await cleaner.endAsync();
  }
  await Promise.all(connections.map((nc) => nc.close()));
  await Promise.all([...peers.map((p) => p.stop()), nats?.stop(), mqtt?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Signals {
  fire(): void;
}

function harness(tty = false): { deps: DiscoverDeps; signals: Signals } {
  let handler: (() => void) | undefined;
  const deps: DiscoverDeps = {
    ...defaultArbiterCliDeps(),
    env: { NATS_URL: nats.url, NATS_USER: 'cli', NATS_PASS: NATS_DEV_PASSWORDS.cli },
    isTty: () => tty,
    onSignal: (h) => {
      handler = h;
      return () => (handler = undefined);
    },
  };
  return { deps, signals: { fire: () => handler?.() } };
}

async function cli(argv: readonly string[], deps: DiscoverDeps = harness().deps) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: (t) => void out.push(t),
    stderr: (t) => void err.push(t),
    readFile: (p) => readFile(p, 'utf8'),
  };
  const program = new Command('voltimax').exitOverride();
  registerDiscoverCommand(program, io, deps);
  let code = 0;
  try {
    await program.parseAsync(['discover', ...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CliExit) code = e.exitCode;
    else throw e;
  }
  return { code, out: out.join(''), err: err.join('') };
}

const scanFlags = () => ['--modbus', `${NET}.0/29`, '--ports', String(port), '--units', '1', '--timeout', '1000'];

async function natsAs(user: 'modbus-poller' | 'cli'): Promise<NatsConnection> {
  const nc = await connectNatsAs(nats.url, user);
  connections.push(nc);
  return nc;
}

function collectFound(nc: NatsConnection): DiscoveryFound[] {
  const found: DiscoveryFound[] = [];
  nc.subscribe(subjects.discoveryFound.wildcard, {
    callback: (_err, msg) => void found.push(subjects.discoveryFound.schema.parse(msg.json())),
  });
  return found;
}

describe('voltimax discover --modbus', () => {
  it('scans the range, prints the table and plain progress lines without a terminal', async () => {
    const { code, out, err } = await cli(scanFlags());
    expect(code).toBe(0);
    expect(out).toMatch(/^id +found by +kind +profile +where +device +confidence$/m);
    expect(out).toMatch(
      new RegExp(
        `^d-[0-9a-f]{6} +modbus +battery +cnte\\.ess-cabinet +modbus ${NET}\\.2:${port} unit 1 +CNTE ESS-215, SN SIM-PEER-0001 +95 %$`,
        'm',
      ),
    );
    expect(out).toMatch(
      new RegExp(`^d-[0-9a-f]{6} +modbus +meter +eastron\\.sdm630 +modbus ${NET}\\.3:${port} unit 1 `, 'm'),
    );
    expect(out).toMatch(/^modbus: 6 hosts, .*2 found/m);
    expect(err).toMatch(/^scanned 6\/6 hosts, 2 found$/m);
    expect(err).not.toContain('\r');
    for (const peer of peers) expect(peer.output()).not.toMatch(/WRITE/);
  });

  it('draws a progress bar on a terminal and gives JSON with --json', async () => {
    const { code, out, err } = await cli([...scanFlags(), '--json'], harness(true).deps);
    expect(code).toBe(0);
    expect(err).toMatch(/\r\[#{30}\] 6\/6 hosts, 2 found/);
    const json = JSON.parse(out) as { candidates: { profileId: string }[]; modbus: { hostsTotal: number } };
    expect(json.candidates.map((c) => c.profileId).sort()).toEqual(['cnte.ess-cabinet', 'eastron.sdm630']);
    expect(json.modbus.hostsTotal).toBe(6);
  });

  it('--apply adds a found meter to assets.json through assets add', async () => {
    const { out } = await cli([...scanFlags(), '--json']);
    const meter = (JSON.parse(out) as { candidates: { id: string; profileId: string }[] }).candidates.find(
      (c) => c.profileId === 'eastron.sdm630',
    );
    const applied = await cli([...scanFlags(), '--site', site, '--apply', meter?.id ?? 'missing']);
    expect(applied.code).toBe(0);
    expect(applied.out).toMatch(/added sdm630-1 \(meter, eastron\.sdm630\) to .*; 5 assets/);
    const assets = (JSON.parse(readFileSync(site, 'utf8')) as { assets: Record<string, unknown>[] }).assets;
    expect(assets.at(-1)).toEqual({
      id: 'sdm630-1',
      name: `Eastron SDM630 meter at ${NET}.3:${port}/1`,
      kind: 'meter',
      profile: 'eastron.sdm630',
      connection: { protocol: 'modbus-tcp', host: `${NET}.3`, port, unitId: 1 },
    });
  });

  it('--apply-all writes nothing when one finding needs data only the installer has (battery limits)', async () => {
    const before = readFileSync(site, 'utf8');
    const applied = await cli([...scanFlags(), '--site', site, '--apply-all']);
    expect(applied.code).toBe(1);
    expect(applied.err).toMatch(/not written: adding these devices would make .* invalid/);
    expect(applied.err).toMatch(/→ ess-cabinet-1: \$\.assets\[4\]\.battery: /);
    expect(applied.err).toContain('"profile":"cnte.ess-cabinet"');
    expect(readFileSync(site, 'utf8')).toBe(before);
  });

  it('refuses an unknown id, and usage errors exit 2', async () => {
    expect((await cli([...scanFlags(), '--site', site, '--apply', 'd-000000'])).code).toBe(1);
    expect((await cli([])).code).toBe(2);
    expect((await cli(['--modbus', '10.0.0.0/8'])).err).toMatch(/at most 4096 per scan/);
    expect((await cli([...scanFlags(), '--apply', 'x'])).code).toBe(2);
    expect((await cli(['--mdns', '--ports', '502'])).code).toBe(2);
  });
});

describe('voltimax discover --mqtt', () => {
  it('lists the Home Assistant devices; applies the Shelly (an MQTT profile fits), refuses the battery (none does)', async () => {
    const { code, out } = await cli(['--mqtt', mqtt.url, '--listen-ms', '800', '--json']);
    expect(code).toBe(0);
    const candidates = (
      JSON.parse(out) as { candidates: { id: string; kind: string; profileId?: string; sensors: unknown[] }[] }
    ).candidates;
    const battery = candidates.find((c) => c.kind === 'battery');
    const shelly = candidates.find((c) => c.profileId === 'shelly.pro-3em');
    expect(battery).toMatchObject({ sensors: [{ key: 'socPct' }, { key: 'powerW', scale: 1000 }] });
    const refused = await cli(['--mqtt', mqtt.url, '--listen-ms', '800', '--site', site, '--apply', battery?.id ?? '']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/cannot be added: no device profile matches it/);
    const applied = await cli(['--mqtt', mqtt.url, '--listen-ms', '800', '--site', site, '--apply', shelly?.id ?? '']);
    expect([applied.code, applied.err]).toEqual([0, '']);
    const assets = (JSON.parse(readFileSync(site, 'utf8')) as { assets: Record<string, unknown>[] }).assets;
    expect(assets.at(-1)).toMatchObject({
      id: 'pro-3em-1',
      kind: 'meter',
      profile: 'shelly.pro-3em',
      connection: { protocol: 'mqtt', topicPrefix: 'shellypro3em-c8f09e123456', brokerUrl: mqtt.url },
    });
  });

  it('exits 1 when the only source fails', async () => {
    const { code, out } = await cli(['--mqtt', 'mqtt://127.0.0.1:1', '--listen-ms', '200']);
    expect(code).toBe(1);
    expect(out).toMatch(/^mqtt failed: MQTT discovery at mqtt:\/\/127\.0\.0\.1:1: /m);
  });
});

describe('voltimax discover on the bus (NATS user cli)', () => {
  it('--publish sends each finding on discovery.found, which a driver user may receive', async () => {
    const found = collectFound(await natsAs('modbus-poller'));
    const { code, err } = await cli([...scanFlags(), '--publish']);
    expect(code).toBe(0);
    expect(err).toMatch(/published 2 on discovery\.found/);
    await waitFor(() => found.length === 2, { timeoutMs: 5_000, message: 'two discovery.found' });
    expect(found.map((f) => f.profileId).sort()).toEqual(['cnte.ess-cabinet', 'eastron.sdm630']);
    expect(found.find((f) => f.profileId === 'cnte.ess-cabinet')).toMatchObject({
      method: 'modbus',
      serial: 'SIM-PEER-0001',
      connection: { protocol: 'modbus-tcp', host: `${NET}.2`, port, unitId: 1 },
    });
  });

  it('--serve answers discovery.request with discovery.found carrying the request id, until a signal', async () => {
    const { deps, signals } = harness();
    const serving = cli(['--serve', '--timeout', '1000', '--units', '1', '--ports', String(port)], deps);
    const requester = await natsAs('cli');
    const found = collectFound(requester);
    await waitFor(
      async () => {
        // the responder subscribes after connecting: repeat the request until its answer arrives
        requester.publish(
          subjects.discoveryRequest.format({}),
          JSON.stringify({
            v: 1,
            methods: ['modbus'],
            cidr: `${NET}.3/32`,
            ports: [port],
            unitIds: [1],
            timeoutMs: 1000,
            requestId: 'r-42',
            sentAtMs: Date.now(),
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 300));
        return found.length > 0;
      },
      { timeoutMs: 15_000, message: 'discovery.found for r-42' },
    );
    signals.fire();
    const result = await serving;
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/answering discovery\.request/);
    expect(found[0]).toMatchObject({ requestId: 'r-42', profileId: 'eastron.sdm630' });
  });
});
