// The simulated site over real sockets: modbus-serial clients (and Debian's mbpoll, a client we did not write)
// read and write the simulated devices; @voltimax/devices' profiles and SunSpec discovery decode what they read.
// Steps are driven by the test (sim.step()) and the wall clock is a fake, so nothing sleeps.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import type ModbusRTU from 'modbus-serial';
import {
  decodeProfile,
  encodeSetpoint,
  getModbusProfile,
  nextSunSpecDiscoveryStep,
  parseModelChain,
  planProfileReads,
  planSunSpecDiscovery,
  type BlockWords,
  type ModbusProfile,
  type SunSpecDiscoveryStep,
} from '@voltimax/devices';
import { flatProfile, startTestSimulation, type TestSimulation } from './testing/harness';
import { hybridBatterySite, pvInverterSite } from './testing/site';

const run = promisify(execFile);
const MBPOLL = ['/usr/bin/mbpoll', '/usr/local/bin/mbpoll'].find((p) => existsSync(p));

function profile(id: string): ModbusProfile {
  const found = getModbusProfile(id);
  if (!found) throw new Error(`no profile ${id}`);
  return found;
}

/** Reads every block the profile plans (poll and connect points) and decodes it with the devices codec. */
async function readProfile(client: ModbusRTU, p: ModbusProfile) {
  const blocks: BlockWords[] = [];
  for (const block of [...planProfileReads(p, 'connect'), ...planProfileReads(p, 'poll')]) {
    const result =
      block.table === 'input'
        ? await client.readInputRegisters(block.start, block.count)
        : await client.readHoldingRegisters(block.start, block.count);
    blocks.push({ table: block.table, start: block.start, words: result.data });
  }
  return decodeProfile(p, blocks);
}

/** Executes a devices `encodeSetpoint` outcome the way a driver does: one write request per register write. */
async function writeSetpoint(client: ModbusRTU, outcome: ReturnType<typeof encodeSetpoint>): Promise<void> {
  if (outcome.kind !== 'writes') throw new Error(`set-point rejected: ${JSON.stringify(outcome)}`);
  for (const write of outcome.writes) await client.writeRegisters(write.address, [...write.words]);
}

async function exceptionCode(request: Promise<unknown>): Promise<number | undefined> {
  try {
    await request;
  } catch (err) {
    return (err as { modbusCode?: number }).modbusCode;
  }
  return undefined;
}

const CNTE = profile('cnte.ess-cabinet');
const SDM630 = profile('eastron.sdm630');
const SPH = profile('growatt.sph');

// One simulated minute per step (SIM_SPEED 60), so the SoC moves visibly at SunSpec's 0.1 % resolution.
describe('simulated site over Modbus TCP (load 1800 W, PV 300 W, 60 s per step)', () => {
  let t: TestSimulation;
  let meter: ModbusRTU;
  let battery: ModbusRTU;

  beforeEach(async () => {
    t = await startTestSimulation({ profile: flatProfile(1_800, 300), speed: 60 });
    t.sim.step();
    [meter, battery] = await Promise.all([t.client('grid-1'), t.client('bat-1')]);
  });
  afterEach(() => t.stop());

  const gridPowerW = async () => (await readProfile(meter, SDM630)).measurements.powerW;
  const batteryReading = async () => (await readProfile(battery, CNTE)).measurements;

  it('the SDM630 profile reads the grid meter: import 1500 W, 50 Hz ± 0.03, 230 V, counters in Wh', async () => {
    const reading = await readProfile(meter, SDM630);
    expect(reading.issues).toEqual([]);
    expect(reading.measurements.powerW).toBe(1_500);
    expect(reading.measurements.powerL1W).toBe(500);
    expect(Math.abs((reading.measurements.frequencyHz ?? 0) - 50)).toBeLessThan(0.03);
    expect(reading.measurements.voltageL1V).toBeCloseTo(230, -1);
    expect(reading.measurements.importEnergyWh).toBeCloseTo(1_520_400, -2);
  });

  it('closes the loop: a +1000 W set-point written with the CNTE profile encoding lowers the meter by 1000 W', async () => {
    const before = await batteryReading();
    const scaleFactors = (await readProfile(battery, CNTE)).scaleFactors;
    await writeSetpoint(battery, encodeSetpoint(CNTE, { kind: 'battery-power', powerW: 1_000 }, { scaleFactors }));
    expect(await gridPowerW()).toBe(1_500); // nothing moves before the next step

    t.sim.step();

    expect(await gridPowerW()).toBe(500);
    const after = await batteryReading();
    expect(after.powerW).toBe(1_000);
    expect(after.socPct).toBeLessThan(before.socPct ?? 0);
    expect(t.sim.counters()['bat-1']?.writes).toBe(6);
  });

  it('closes the loop for charging with hand-typed words: WSet −2000 W (0xFFFF 0xF830) raises the import to 3500 W', async () => {
    await battery.writeRegisters(40157, [0x0001]); // WSetMod = watts
    await battery.writeRegisters(40158, [0xffff, 0xf830]); // WSet = −2000
    await battery.writeRegisters(40156, [0x0001]); // WSetEna
    const socBefore = (await batteryReading()).socPct ?? 0;
    t.sim.step();
    t.sim.step();
    expect(await gridPowerW()).toBe(3_500);
    const after = await batteryReading();
    expect(after.powerW).toBe(-2_000);
    expect(after.socPct).toBeGreaterThan(socBefore);
  });

  it('reverts to 0 W when the set-point is not renewed within the 30 s the profile writes', async () => {
    const scaleFactors = (await readProfile(battery, CNTE)).scaleFactors;
    await writeSetpoint(battery, encodeSetpoint(CNTE, { kind: 'battery-power', powerW: 1_000 }, { scaleFactors }));
    t.clock.nowMs += 29_000;
    t.sim.step();
    expect(await gridPowerW()).toBe(500);
    t.clock.nowMs += 1_000;
    t.sim.step();
    expect(await gridPowerW()).toBe(1_500);
    expect((await batteryReading()).powerW).toBe(0);
  });

  it('answers writes to read-only registers with exception 02 and bad values with 03, and counts them', async () => {
    expect(await exceptionCode(battery.writeRegisters(40081, [500]))).toBe(2); // 802.SoC
    expect(await exceptionCode(battery.writeRegister(40158, 0x0000))).toBe(2); // half of WSet (FC 06)
    expect(await exceptionCode(battery.writeRegisters(40156, [2]))).toBe(3); // WSetEna = 2
    expect(await exceptionCode(meter.writeRegisters(0x0034, [0, 0]))).toBe(2);
    expect(await exceptionCode(meter.readHoldingRegisters(0, 2))).toBe(2);
    expect(t.sim.counters()['bat-1']).toMatchObject({ writes: 0, rejectedWrites: 3 });
    expect(t.sim.counters()['grid-1']).toMatchObject({ rejectedWrites: 1, rejectedReads: 1 });
  });

  it('does not answer another unit id, as a unit behind a gateway', async () => {
    const other = await t.client('grid-1', { unitId: 2, timeoutMs: 150 });
    await expect(other.readInputRegisters(0x0034, 2)).rejects.toMatchObject({
      message: expect.stringMatching(/timed out/i),
    });
  });

  it('walks the SunSpec chain with the devices step machine over the socket', async () => {
    let step: SunSpecDiscoveryStep = planSunSpecDiscovery();
    while (step.kind === 'read') {
      const { address, count } = step;
      const response = await battery
        .readHoldingRegisters(address, count)
        .then((r) => ({ kind: 'words' as const, words: r.data }))
        .catch(() => ({ kind: 'error' as const }));
      step = nextSunSpecDiscoveryStep(step, response);
    }
    expect(step).toEqual({
      kind: 'found',
      baseAddress: 40000,
      models: [
        { id: 1, address: 40002, length: 66 },
        { id: 802, address: 40070, length: 62 },
        { id: 704, address: 40134, length: 65 },
        { id: 803, address: 40201, length: 58 },
      ],
      endAddress: 40261,
    });
  });

  it('parses the same chain from the whole image read in blocks of ≤ 125 registers', async () => {
    const words: number[] = [];
    for (let address = 40000; address < 40263; address += 125) {
      words.push(...(await battery.readHoldingRegisters(address, Math.min(125, 40263 - address))).data);
    }
    const chain = parseModelChain(words, 40000);
    expect(chain.kind).toBe('complete');
    expect(chain.kind === 'complete' && chain.models.map((m) => m.id)).toEqual([1, 802, 704, 803]);
  });

  it('the CNTE profile decodes identity, SoC, power and the rest without issues', async () => {
    const reading = await readProfile(battery, CNTE);
    expect(reading.values).toMatchObject({ manufacturer: 'CNTE', serialNumber: 'SIM-bat-1', capacityWh: 10_240 });
    expect(reading.measurements).toMatchObject({ socPct: 50, powerW: 0, sohPct: 100 });
    expect(reading.issues).toEqual([]);
  });

  it('the Growatt SPH profile decodes PV, grid and load from the hybrid inverter', async () => {
    const inverter = await t.client('inv-1');
    const reading = await readProfile(inverter, SPH);
    expect(reading.values).toMatchObject({ pvPowerW: 300, gridPowerW: 1_500, loadPowerW: 1_800 });
    expect(reading.measurements.powerW).toBe(0); // this inverter's battery port is unused: bat-1 is the battery
  });

  (MBPOLL ? it : it.skip)('mbpoll (-B: high word first) reads the meter total power 1500 W as float', async () => {
    const args = [
      '-m',
      'tcp',
      '-p',
      String(t.port('grid-1')),
      '-a',
      '1',
      '-0',
      '-r',
      '52',
      '-c',
      '1',
      '-t',
      '3:float',
      '-1',
    ];
    const { stdout } = await run(MBPOLL ?? 'mbpoll', [...args, '-B', '127.0.0.1']);
    expect(stdout).toMatch(/\[52\]:\s+1500\s*$/m);
    // Without -B mbpoll assumes the low word first and reads the words swapped: not 1500.
    const swapped = await run(MBPOLL ?? 'mbpoll', [...args, '127.0.0.1']);
    expect(swapped.stdout).not.toMatch(/\[52\]:\s+1500\s*$/m);
  });

  (MBPOLL ? it : it.skip)(
    'mbpoll writes a −1000 W set-point as int32 (high word first) and the meter follows',
    async () => {
      const base = ['-m', 'tcp', '-p', String(t.port('bat-1')), '-a', '1', '-0', '-1'];
      await run(MBPOLL ?? 'mbpoll', [...base, '-r', '40158', '-t', '4:int', '-B', '127.0.0.1', '--', '-1000']);
      await run(MBPOLL ?? 'mbpoll', [...base, '-r', '40156', '-t', '4', '127.0.0.1', '1']);
      t.sim.step();
      expect(await gridPowerW()).toBe(2_500);
    },
  );
});

describe('hybrid inverter owning the battery (no battery asset)', () => {
  let t: TestSimulation;
  beforeEach(async () => {
    t = await startTestSimulation({ site: hybridBatterySite(), profile: flatProfile(1_800, 300) });
    t.sim.step();
  });
  afterEach(() => t.stop());

  it('runs load first (battery covers 1500 W), and force-charges at 40 % when the growatt.sph encoding asks for −1000 W', async () => {
    const [inverter, meter] = await Promise.all([t.client('inv-1'), t.client('grid-1')]);
    t.sim.step();
    const normal = await readProfile(inverter, SPH);
    expect(normal.measurements).toMatchObject({ powerW: 1_500, socPct: 50 });
    expect((await readProfile(meter, SDM630)).measurements.powerW).toBe(0);

    await writeSetpoint(
      inverter,
      encodeSetpoint(SPH, { kind: 'battery-power', powerW: -1_000 }, { ratedPowerW: 2_500 }),
    );
    t.sim.step();
    expect((await readProfile(inverter, SPH)).measurements.powerW).toBe(-1_000);
    expect((await readProfile(meter, SDM630)).measurements.powerW).toBe(2_500);
  });
});

describe('PV string inverter beside the hybrid (growatt.pv-tl-x; sunshine 5 kW shared by rating 6 : 4 kW)', () => {
  const PV = profile('growatt.pv-tl-x');
  let t: TestSimulation;
  beforeEach(async () => {
    t = await startTestSimulation({
      site: pvInverterSite(4_000),
      profile: flatProfile(500, 5_000),
    });
    t.sim.step();
  });
  afterEach(() => t.stop());

  it('the PV profile reads its share, and a pv-limit the profile encodes caps the output and the export', async () => {
    const [pv, meter] = await Promise.all([t.client('pv-1'), t.client('grid-1')]);
    const before = await readProfile(pv, PV);
    expect(before.issues).toEqual([]);
    expect(before.measurements).toMatchObject({ powerW: 2_000, pvPowerW: 2_000, powerLimitPct: 100 });
    expect((await readProfile(meter, SDM630)).measurements.powerW).toBe(-4_500);

    // 1 000 W of a 4 kW inverter: 25 % in holding 3.
    await writeSetpoint(pv, encodeSetpoint(PV, { kind: 'pv-limit', maxPowerW: 1_000 }, { ratedPowerW: 4_000 }));
    t.sim.step();
    expect((await readProfile(pv, PV)).measurements).toMatchObject({ powerW: 1_000, powerLimitPct: 25 });
    expect((await readProfile(meter, SDM630)).measurements.powerW).toBe(-3_500);

    // The profile's safe set-point releases it.
    await writeSetpoint(pv, encodeSetpoint(PV, { kind: 'safe' }, { ratedPowerW: 4_000 }));
    t.sim.step();
    expect((await readProfile(pv, PV)).measurements.powerW).toBe(2_000);
    // It has no storage registers: 02 there, as the string inverters answer.
    expect(await exceptionCode(pv.readInputRegisters(1000, 1))).toBe(2);
    expect(await exceptionCode(pv.writeRegisters(1044, [1]))).toBe(2);
  });
});
