// `voltimax device read` against the independent pymodbus peer: an SDM630 (unit 1, float32 typed from
// eastron-sdm630.md and encoded by pymodbus), a SunSpec inverter image (unit 2, hand-typed in @voltimax/devices/testing)
// and an SDM630 with a NaN total power (unit 3).
import { SUNSPEC_IMAGE_BASE, SUNSPEC_INVERTER_IMAGE } from '@voltimax/devices/testing';
import { closedPort, startPeer, type Peer } from '@voltimax/modbus/testing';
import { runCli } from '../program';

const f32 = (value: number) => ({ type: 'float32', value });
const SDM630 = {
  '0': f32(230.1),
  '2': f32(231.0),
  '4': f32(229.5),
  '6': f32(5.5),
  '8': f32(4.0),
  '10': f32(3.25),
  '12': f32(1200.5),
  '14': f32(900.0),
  '16': f32(-100.5),
  '52': f32(2000.0),
  '56': f32(2100.0),
  '60': f32(-150.0),
  '62': f32(0.75),
  '70': f32(50.0),
  '72': f32(1234.5),
  '74': f32(56.25),
};

describe('voltimax device read', () => {
  let peer: Peer;
  let downPort: number;
  const files: Record<string, string> = {};

  beforeAll(async () => {
    [peer, downPort] = await Promise.all([
      startPeer({
        map: {
          units: {
            '1': { input_registers: SDM630 },
            '2': { holding_registers: { [String(SUNSPEC_IMAGE_BASE)]: [...SUNSPEC_INVERTER_IMAGE] } },
            '3': { input_registers: { ...SDM630, '52': [0x7fc0, 0x0000] } },
          },
        },
      }),
      closedPort(),
    ]);
    const asset = (id: string, kind: string, profile: string, unitId: number, port = peer.port) => ({
      id,
      name: id,
      kind,
      profile,
      connection: { protocol: 'modbus-tcp', host: '127.0.0.1', port, unitId },
      ...(kind === 'pv-inverter' ? { pv: { ratedPowerW: 15_000 } } : {}),
    });
    files['site.json'] = JSON.stringify({
      v: 1,
      gatewayId: 'gw-cli',
      siteName: 'cli tests',
      timezone: 'Europe/Paris',
      grid: { maxImportW: 17_000, maxExportW: 17_000 },
      assets: [
        asset('grid-1', 'grid-meter', 'eastron.sdm630', 1),
        asset('pv-1', 'pv-inverter', 'sunspec.generic', 2),
        asset('meter-nan', 'meter', 'eastron.sdm630', 3),
        asset('meter-down', 'meter', 'eastron.sdm630', 1, downPort),
        {
          id: 'ev-9',
          name: 'ev',
          kind: 'ev-charger',
          profile: 'autel.maxicharger-ac',
          connection: { protocol: 'ocpp', chargePointId: 'cp-9' },
          evCharger: { maxCurrentA: 16 },
        },
      ],
      strategy: { active: ['null'] },
      tariff: { kind: 'fixed', fixedEurPerMwh: 250 },
    });
  });

  afterAll(async () => {
    await peer?.stop();
  });

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      readFile: async (p) => {
        const text = files[p];
        if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
        return text;
      },
    });
    return { code, out: out.join(''), err: err.join('') };
  }

  it('prints every decoded value of a register profile with its unit', async () => {
    const { code, out, err } = await cli('device', 'read', 'grid-1', '--site', 'site.json');
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toBe(`grid-1  eastron.sdm630  modbus-tcp 127.0.0.1:${peer.port} unit 1`);
    expect(lines[1]).toMatch(/^point +value +unit$/);
    expect(out).toMatch(/^voltageL1V +230\.1 +V$/m);
    expect(out).toMatch(/^powerW +2000 +W$/m);
    expect(out).toMatch(/^powerL3W +-100\.5 +W$/m);
    expect(out).toMatch(/^importEnergyWh +1234500 +Wh$/m);
    expect(out).toMatch(/^powerFactor +0\.75$/m);
    expect(out).not.toContain('issues');
  });

  it('prints a single point', async () => {
    const { code, out } = await cli('device', 'read', 'grid-1', 'powerW', '--site', 'site.json');
    expect(code).toBe(0);
    expect(out.split('\n').slice(1)).toEqual(['point   value  unit', 'powerW  2000   W', '']);
  });

  it('lists dropped values as issues, never as values', async () => {
    const { code, out } = await cli('device', 'read', 'meter-nan', '--site', 'site.json');
    expect(code).toBe(0);
    expect(out).not.toMatch(/^powerW /m);
    expect(out).toContain('issues (values dropped, never shown as values):\n  powerW: implausible: NaN (not-finite)\n');
  });

  it('reads a SunSpec device through discovery and its model chain', async () => {
    const { code, out } = await cli('device', 'read', 'pv-1', '--site', 'site.json');
    expect(code).toBe(0);
    expect(out).toMatch(/^manufacturer +Acme$/m);
    expect(out).toMatch(/^serialNumber +SN123$/m);
    expect(out).toMatch(/^powerW +12340 +W$/m);
    expect(out).toMatch(/^frequencyHz +50\.01 +Hz$/m);
  });

  it('offers JSON output', async () => {
    const { code, out } = await cli('device', 'read', 'grid-1', 'frequencyHz', '--site', 'site.json', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      assetId: 'grid-1',
      profile: 'eastron.sdm630',
      connection: `modbus-tcp 127.0.0.1:${peer.port} unit 1`,
      values: { frequencyHz: { value: 50, unit: 'Hz' } },
      issues: [],
    });
  });

  it('exits 1 with the reason when the device does not answer', async () => {
    const { code, err } = await cli('device', 'read', 'meter-down', '--site', 'site.json', '--timeout', '300');
    expect(code).toBe(1);
    expect(err).toMatch(/^meter-down: read failed \(modbus-tcp 127\.0\.0\.1:\d+ unit 1\): ModbusConnectionError: /);
  });

  it.each([
    { args: ['nope'], message: "unknown asset 'nope'; assets: grid-1, pv-1, meter-nan, meter-down, ev-9" },
    { args: ['ev-9'], message: "asset 'ev-9' is reached over ocpp; device read speaks Modbus only" },
    { args: ['grid-1', 'socPct'], message: "profile eastron.sdm630 has no point 'socPct'" },
  ])('exits 2 for $args', async ({ args, message }) => {
    const { code, err } = await cli('device', 'read', ...args, '--site', 'site.json');
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  it('exits 2 when the site file cannot be read', async () => {
    const { code, err } = await cli('device', 'read', 'grid-1', '--site', 'missing.json');
    expect(code).toBe(2);
    expect(err).toBe('cannot read missing.json: ENOENT\n');
  });

  it('never wrote a register (the peer logs every write)', () => {
    expect(peer.output()).not.toContain('WRITE');
  });
});
