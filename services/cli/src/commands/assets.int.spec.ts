// `voltimax assets add` then `voltimax assets test` against the independent pymodbus peer (an SDM630 image, float32
// values typed from the datasheet example, encoded by pymodbus, not by our codec).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../program';
import { startPeer, type Peer } from '@voltimax/modbus/testing';

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

describe('voltimax assets test', () => {
  let peer: Peer;
  let dir: string;
  let site: string;

  beforeAll(async () => {
    peer = await startPeer({ map: { units: { '1': { input_registers: SDM630 } } } });
    dir = mkdtempSync(join(tmpdir(), 'voltimax-assets-int-'));
    site = join(dir, 'assets.json');
    writeFileSync(site, readFileSync(join(__dirname, '../../../../docker/config/assets.example.json'), 'utf8'));
  });

  afterAll(async () => {
    await peer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, {
      stdout: (t) => void out.push(t),
      stderr: (t) => void err.push(t),
      readFile: (p) => readFile(p, 'utf8'),
    });
    return { code, out: out.join(''), err: err.join('') };
  }

  it('reads an asset that was just added, with its profile, once', async () => {
    const added = await cli(
      'assets',
      'add',
      '--site',
      site,
      '--id',
      'meter-7',
      '--kind',
      'meter',
      '--profile',
      'eastron.sdm630',
      '--protocol',
      'modbus-tcp',
      '--host',
      '127.0.0.1',
      '--port',
      String(peer.port),
      '--unit-id',
      '1',
    );
    expect(added.code).toBe(0);
    const { code, out, err } = await cli('assets', 'test', 'meter-7', '--site', site, '--json');
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out) as { assetId: string; values: Record<string, { value: number; unit: string }> };
    expect(report.assetId).toBe('meter-7');
    expect(report.values['voltageL1V']?.value).toBeCloseTo(230.1, 4);
    expect(report.values['powerW']).toEqual({ value: 2000, unit: 'W' });
  });
});
