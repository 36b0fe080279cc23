// The Modbus scan over a loopback /24: the independent pymodbus peer serves our supported devices on 127.42.0.x
// (SunSpec CNTE cabinet, SunSpec inverter, SDM630, Growatt SPH, PAC2200, ABB), one host accepts and never answers,
// one resets every connection, the other 246 refuse. Found, identified, nothing written, every host accounted for.
import { ModbusPool } from '@voltimax/modbus';
import { freePort, waitFor } from '@voltimax/testing';
import { pino } from 'pino';
import { startPeerOn, startResetServer, startSilentServer, type FaultServer, type HostPeer } from '../testing/devices';
import {
  ABB_B23_MAP,
  CNTE_MAP,
  GROWATT_SPH_MAP,
  PAC2200_MAP,
  SDM630_MAP,
  SUNSPEC_INVERTER_MAP,
} from '../testing/peer-maps';
import { scanModbus, type ModbusScanResult, type ScanProgress } from './scan';

const NET = '127.42.0';
const host = (n: number): string => `${NET}.${n}`;
let port: number;
let peers: HostPeer[] = [];
let silent: FaultServer;
let reset: FaultServer;
let result: ModbusScanResult;
const progress: ScanProgress[] = [];
/**
 * Per host. Fingerprinting a peer takes a few seconds of Python Modbus replies on an idle machine; a loaded CI runner
 * (other Jest workers) once spent 8 s on three peers and reported them `budget-exhausted`.
 */
const HOST_BUDGET_MS = 20_000;

beforeAll(async () => {
  port = await freePort();
  [silent, reset, ...peers] = await Promise.all([
    startSilentServer(host(4), port),
    startResetServer(host(5), port),
    startPeerOn(host(2), port, CNTE_MAP),
    startPeerOn(host(3), port, SDM630_MAP),
    startPeerOn(host(6), port, SUNSPEC_INVERTER_MAP),
    startPeerOn(host(7), port, GROWATT_SPH_MAP),
    startPeerOn(host(8), port, PAC2200_MAP),
    startPeerOn(host(9), port, ABB_B23_MAP),
  ] as const);
  result = await scanModbus({
    cidr: `${NET}.0/24`,
    ports: [port],
    unitIds: [1, 2],
    timeoutMs: 1_000,
    connectTimeoutMs: 1_000,
    hostBudgetMs: HOST_BUDGET_MS,
    onProgress: (p) => progress.push(p),
  });
}, 120_000);

afterAll(async () => {
  await Promise.all([...peers.map((p) => p.stop()), silent?.stop(), reset?.stop()]);
});

const report = (n: number) => result.ports.find((r) => r.host === host(n));
const candidate = (n: number) => result.candidates.find((c) => c.identity.host === host(n));

describe('scanModbus over 127.42.0.0/24', () => {
  it('identifies the SunSpec CNTE cabinet with its pinned profile, reading manufacturer, model and serial', () => {
    expect(candidate(2)).toMatchObject({
      source: 'modbus',
      kind: 'battery',
      profileId: 'cnte.ess-cabinet',
      connection: { protocol: 'modbus-tcp', host: host(2), port, unitId: 1 },
      identity: { manufacturer: 'CNTE', model: 'ESS-215', serial: 'SIM-PEER-0001' },
      confidence: 0.95,
    });
    expect(candidate(2)?.key).toBe('serial:sim-peer-0001');
    // it answers every unit id: unit 2 is the same device, reported once
    expect(report(2)?.units).toEqual([
      expect.objectContaining({ unitId: 1, outcome: 'identified' }),
      expect.objectContaining({ unitId: 2, outcome: 'duplicate' }),
    ]);
  });

  it('identifies a generic SunSpec PV inverter on unit 1; unit 2 does not answer', () => {
    expect(candidate(6)).toMatchObject({
      kind: 'pv-inverter',
      profileId: 'sunspec.generic',
      identity: { manufacturer: 'Fronius', model: 'Symo 8.2-3-M', serial: '34110987' },
    });
    expect(report(6)?.units.map((u) => u.outcome)).toEqual(['identified', 'no-answer']);
  });

  it.each([
    [3, 'eastron.sdm630', 'meter'],
    [7, 'growatt.sph', 'hybrid-inverter'],
    [8, 'siemens.pac2200', 'meter'],
    [9, 'abb.b23-b24', 'meter'],
  ])('fingerprints 127.42.0.%i as %s (%s)', (n, profileId, kind) => {
    expect(candidate(n)).toMatchObject({ profileId, kind, connection: { host: host(n), port, unitId: 1 } });
    expect(report(n)?.outcome).toBe('found');
  });

  it('reports the silent host, the resetting host and every refusing host', () => {
    expect(report(4)).toMatchObject({ outcome: 'silent', units: [{ outcome: 'no-answer' }, { outcome: 'no-answer' }] });
    expect(report(5)).toMatchObject({ outcome: 'reset', detail: expect.stringMatching(/ECONNRESET|connection/) });
    expect(reset.connections()).toBeGreaterThanOrEqual(1);
    const refused = result.ports.filter((r) => r.outcome === 'refused');
    expect(refused).toHaveLength(254 - 8);
    expect(result.candidates).toHaveLength(6);
  });

  it('wrote nothing: no peer logged a write, and the silent host only ever got read requests (FC 03/04)', () => {
    for (const peer of peers) expect(peer.output()).not.toMatch(/WRITE/);
    expect(silent.functionCodes.length).toBeGreaterThan(0);
    expect(new Set(silent.functionCodes)).toEqual(new Set([3]));
  });

  it('attempted every host once, reported progress for each, and kept each host within its time budget', () => {
    expect(result.hostsTotal).toBe(254);
    expect(new Set(result.ports.map((r) => r.host)).size).toBe(254);
    expect(progress.map((p) => p.hostsDone)).toEqual(Array.from({ length: 254 }, (_, i) => i + 1));
    expect(result.aborted).toBe(false);
    expect(result.hostElapsedMs.size).toBe(254);
    // the scan's own deadline accounting: no read was started on a host after its budget was spent
    for (const [h, atMs] of result.lastReadAtMs)
      expect({ host: h, atMs: Math.min(atMs, HOST_BUDGET_MS) }).toEqual({ host: h, atMs });
  });
});

describe('scanModbus abort and budget', () => {
  it('stops on abort: the remaining hosts are reported as aborted and the scan returns', async () => {
    const controller = new AbortController();
    const aborted = await scanModbus({
      cidr: `${NET}.0/24`,
      ports: [port],
      unitIds: [1],
      concurrency: 1,
      timeoutMs: 500,
      onProgress: (p) => {
        if (p.hostsDone === 3) controller.abort();
      },
      signal: controller.signal,
    });
    expect(aborted.aborted).toBe(true);
    expect(aborted.ports).toHaveLength(254);
    expect(aborted.ports.filter((r) => r.outcome === 'aborted')).toHaveLength(254 - 3);
  });

  it('gives up on a host once its budget is spent', async () => {
    const budget = await scanModbus({
      cidr: `${host(4)}/32`,
      ports: [port],
      unitIds: [1, 2, 3, 126, 247],
      timeoutMs: 300,
      hostBudgetMs: 400,
    });
    expect(budget.ports).toEqual([expect.objectContaining({ host: host(4), outcome: 'budget-exhausted' })]);
    expect(budget.ports[0]?.units.length).toBeLessThan(5);
    expect(budget.lastReadAtMs.get(host(4))).toBeLessThanOrEqual(400);
  });
});

describe('the write check itself', () => {
  it('sees a write when one happens (so "no WRITE in the peer log" above could fail)', async () => {
    const pool = new ModbusPool({ log: pino({ level: 'silent' }), timeoutMs: 1_000, retry: { attempts: 1 } });
    try {
      await pool.write({ transport: 'tcp', host: host(2), port }, { unitId: 1, address: 40068, words: [7] });
    } finally {
      await pool.close();
    }
    // the peer logs the write before it answers; its log reaches us through a pipe, so wait for the line
    const cnte = peers.find((p) => p.host === host(2));
    await waitFor(() => /WRITE .*addr=40068 values=\[7\]/.test(cnte?.output() ?? ''), {
      timeoutMs: 5_000,
      message: 'WRITE in the peer log',
    });
  });
});
