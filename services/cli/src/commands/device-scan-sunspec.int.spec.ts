// `voltimax device scan-sunspec` against the pymodbus peer serving hand-typed SunSpec images
// (@voltimax/devices/testing): at 40000 (unit 1), at 50000 (unit 2), and a unit without SunSpec (unit 3).
import { SUNSPEC_INVERTER_IMAGE } from '@voltimax/devices/testing';
import { startPeer, type Peer } from '@voltimax/modbus/testing';
import { runCli } from '../program';

describe('voltimax device scan-sunspec', () => {
  let peer: Peer;

  beforeAll(async () => {
    peer = await startPeer({
      map: {
        units: {
          '1': { holding_registers: { '40000': [...SUNSPEC_INVERTER_IMAGE] } },
          '2': { holding_registers: { '50000': [...SUNSPEC_INVERTER_IMAGE] } },
          '3': { input_registers: { '0': [1, 2] } },
        },
      },
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
      readFile: async () => '',
    });
    return { code, out: out.join(''), err: err.join('') };
  }

  it('prints manufacturer, model and serial from model 1 and the model list', async () => {
    const { code, out, err } = await cli('device', 'scan-sunspec', '127.0.0.1', '--port', String(peer.port));
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toBe(
      [
        `SunSpec device at 127.0.0.1:${peer.port} unit 1 (marker at 40000)`,
        '  manufacturer    Acme',
        '  model           PV-10',
        '  version         1.2',
        '  serial          SN123',
        '  device address  1',
        'models (2):',
        '  1    @40002  L=66  Common',
        '  103  @40070  L=50  Inverter (Three Phase)',
        '',
      ].join('\n'),
    );
  });

  it('finds the marker at 50000 when 40000 is not there', async () => {
    const { code, out } = await cli(
      'device',
      'scan-sunspec',
      '127.0.0.1',
      '--port',
      String(peer.port),
      '--unit',
      '2',
      '--json',
    );
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      host: '127.0.0.1',
      port: peer.port,
      unitId: 2,
      baseAddress: 50000,
      identity: { manufacturer: 'Acme', model: 'PV-10', version: '1.2', serial: 'SN123', 'device address': '1' },
      models: [
        { id: 1, address: 50002, length: 66, name: 'Common' },
        { id: 103, address: 50070, length: 50, name: 'Inverter (Three Phase)' },
      ],
    });
  });

  it('exits 1 naming the addresses it tried when there is no SunSpec device', async () => {
    const { code, err } = await cli('device', 'scan-sunspec', '127.0.0.1', '--port', String(peer.port), '--unit', '3');
    expect(code).toBe(1);
    expect(err).toBe(`no SunSpec device at 127.0.0.1:${peer.port} unit 3: no SunS marker at 40000, 50000, 0\n`);
  });

  it('exits 2 on a bad option', async () => {
    const { code, err } = await cli('device', 'scan-sunspec', '127.0.0.1', '--port', '70000');
    expect(code).toBe(2);
    expect(err).toBe("--port must be an integer from 1 to 65535, got '70000'\n");
  });

  it('never wrote a register', () => {
    expect(peer.output()).not.toContain('WRITE');
  });
});
