import { createMemoryNetwork } from '@voltimax/bus/testing';
import { DiscoveryFoundSchema, subjects, type DiscoveryRequest } from '@voltimax/contracts';
import { pino } from 'pino';
import { optionsFromRequest, publishCandidates, startDiscoveryResponder } from './bus';
import { finishCandidate } from './candidate';
import type { DiscoverOptions, DiscoveryRun } from './discover';

const AT = 1_700_000_000_000;
const meter = finishCandidate({
  source: 'modbus',
  kind: 'meter',
  profileId: 'eastron.sdm630',
  connection: { protocol: 'modbus-tcp', host: '10.0.0.5', port: 502, unitId: 1 },
  identity: { host: '10.0.0.5' },
  confidence: 0.7,
  evidence: ['fingerprint eastron.sdm630'],
  label: 'Eastron SDM630 meter at 10.0.0.5:502/1',
});
const request = (over: Partial<DiscoveryRequest>): DiscoveryRequest => ({
  v: 1,
  methods: ['mdns'],
  sentAtMs: AT,
  ...over,
});

describe('optionsFromRequest', () => {
  it('takes range, ports, unit ids and timeout from the request over the defaults', () => {
    expect(
      optionsFromRequest(
        request({ methods: ['modbus', 'mdns'], cidr: '10.0.0.0/30', ports: [1502], unitIds: [3], timeoutMs: 400 }),
        { modbus: { concurrency: 4 } },
      ),
    ).toEqual({
      ok: true,
      options: {
        mdns: { durationMs: 400 },
        modbus: { concurrency: 4, cidr: '10.0.0.0/30', ports: [1502], unitIds: [3], timeoutMs: 400 },
      },
    });
  });

  it('refuses a Modbus scan without a range and MQTT without a broker', () => {
    expect(optionsFromRequest(request({ methods: ['modbus'] }))).toEqual({
      ok: false,
      reason: 'method modbus needs a cidr: scanning is opt-in',
    });
    expect(optionsFromRequest(request({ methods: ['mqtt'] }))).toMatchObject({ ok: false });
    expect(optionsFromRequest(request({ methods: ['mqtt'] }), { mqtt: { brokerUrl: 'mqtt://b:1883' } })).toMatchObject({
      ok: true,
      options: { mqtt: { brokerUrl: 'mqtt://b:1883' } },
    });
  });

  it('runs BACnet Who-Is only with a range or a broadcast address, with the request over the defaults', () => {
    expect(optionsFromRequest(request({ methods: ['bacnet'] }))).toEqual({
      ok: false,
      reason: 'method bacnet needs a bacnetCidr or a bacnetBroadcast address',
    });
    expect(
      optionsFromRequest(
        request({ methods: ['bacnet'], bacnetCidr: '10.0.0.0/29', bacnetPorts: [47809], timeoutMs: 500 }),
        { bacnet: { listenMs: 2000 } },
      ),
    ).toEqual({ ok: true, options: { bacnet: { listenMs: 2000, cidr: '10.0.0.0/29', ports: [47809], timeoutMs: 500 } } });
    expect(optionsFromRequest(request({ methods: ['bacnet'], bacnetBroadcast: '10.0.0.255' }))).toEqual({
      ok: true,
      options: { bacnet: { broadcast: '10.0.0.255' } },
    });
  });
});

describe('startDiscoveryResponder', () => {
  it('runs the requested discovery and publishes each candidate with the request id', async () => {
    const network = createMemoryNetwork();
    const bus = network.connect();
    const requester = network.connect();
    const runs: DiscoverOptions[] = [];
    const run = async (options: DiscoverOptions): Promise<DiscoveryRun> => {
      runs.push(options);
      return { candidates: [meter], errors: [] };
    };
    const responder = startDiscoveryResponder({ bus, log: pino({ level: 'silent' }), now: () => AT, run });
    requester.publish(
      subjects.discoveryRequest,
      {},
      request({ methods: ['modbus'], cidr: '10.0.0.5/32', requestId: 'r1' }),
    );
    await network.settle();
    await responder.stop();
    expect(runs[0]?.modbus).toMatchObject({ cidr: '10.0.0.5/32' });
    const found = requester.published(subjects.discoveryFound).map((m) => m.payload);
    expect(found).toEqual([
      expect.objectContaining({
        requestId: 'r1',
        profileId: 'eastron.sdm630',
        address: '10.0.0.5:502/1',
        method: 'modbus',
      }),
    ]);
  });

  it('drops a request that cannot run and answers nothing', async () => {
    const network = createMemoryNetwork();
    const bus = network.connect();
    let called = 0;
    const responder = startDiscoveryResponder({
      bus,
      log: pino({ level: 'silent' }),
      now: () => AT,
      run: async () => {
        called += 1;
        return { candidates: [], errors: [] };
      },
    });
    network.connect().publish(subjects.discoveryRequest, {}, request({ methods: ['modbus'] }));
    await network.settle();
    await responder.stop();
    expect(called).toBe(0);
    expect(bus.published(subjects.discoveryFound)).toEqual([]);
  });
});

describe('publishCandidates', () => {
  it('publishes valid discovery.found messages', () => {
    const bus = createMemoryNetwork().connect();
    expect(publishCandidates(bus, [meter], AT)).toBe(1);
    const [message] = bus.published(subjects.discoveryFound);
    expect(DiscoveryFoundSchema.parse(message?.payload)).toMatchObject({ key: 'modbus:10.0.0.5:502:1', atMs: AT });
  });
});
