import { ModbusException } from './words';
import { Sdm630, SDM630_INPUT_REGISTERS, type MeterState } from './sdm630';

const STATE: MeterState = {
  powerW: 3_000,
  phases: 3,
  voltagesV: [230, 230, 230],
  frequencyHz: 50,
  importKwh: 1_234.5,
  exportKwh: 0,
};

function codeOf(action: () => unknown): number | undefined {
  try {
    action();
  } catch (err) {
    return err instanceof ModbusException ? err.modbusErrorCode : -1;
  }
  return undefined;
}

// Golden words typed by hand from the float32 bit patterns; addresses from eastron-sdm630.md.
describe('simulated SDM630 register image', () => {
  const meter = new Sdm630();
  meter.update(STATE);
  const input = (address: number, count = 2) => meter.read('input', address, count);

  it('serves total active power 3000 W at 0x0034 as float32 0x453B 0x8000', () => {
    expect(input(0x0034)).toEqual([0x453b, 0x8000]);
  });

  it('splits power evenly over three phases: 1000 W each at 0x000C/0x000E/0x0010 (0x447A 0x0000)', () => {
    expect(input(0x000c, 6)).toEqual([0x447a, 0x0000, 0x447a, 0x0000, 0x447a, 0x0000]);
  });

  it('serves voltages 230 V at 0x0000…0x0004 and frequency 50 Hz at 0x0046', () => {
    expect(input(0x0000, 6)).toEqual([0x4366, 0, 0x4366, 0, 0x4366, 0]);
    expect(input(0x0046)).toEqual([0x4248, 0x0000]);
  });

  it('serves import 1234.5 kWh at 0x0048 and export 0 kWh at 0x004A', () => {
    expect(input(0x0048, 4)).toEqual([0x449a, 0x5000, 0x0000, 0x0000]);
  });

  it('serves export as negative power: −2500 W is 0xC51C 0x4000', () => {
    const exporting = new Sdm630();
    exporting.update({ ...STATE, powerW: -2_500 });
    expect(exporting.read('input', 0x0034, 2)).toEqual([0xc51c, 0x4000]);
  });

  it('puts a single-phase site on L1 only', () => {
    const single = new Sdm630();
    single.update({ ...STATE, phases: 1 });
    expect(single.read('input', 0x000c, 6)).toEqual([0x453b, 0x8000, 0, 0, 0, 0]);
    expect(single.read('input', 0x0002, 2)).toEqual([0, 0]);
  });

  it('answers a block read across the whole documented range, gaps as zero', () => {
    expect(input(0x0000, 125)).toHaveLength(125);
    expect(input(0x0024, 2)).toEqual([0, 0]);
    expect(input(0x017c, 2)).toEqual([0, 0]);
  });

  it('places every quantity on an even address inside 0x0000…0x017D', () => {
    for (const address of Object.values(SDM630_INPUT_REGISTERS)) {
      expect(address % 2).toBe(0);
      expect(address + 1).toBeLessThanOrEqual(0x017d);
    }
  });

  it.each([
    { what: 'a read past the last register', action: () => meter.read('input', 0x017e, 1), code: 2 },
    { what: 'a read ending past the last register', action: () => meter.read('input', 0x017c, 4), code: 2 },
    { what: 'a holding-register read', action: () => meter.read('holding', 0, 2), code: 2 },
    { what: 'a read of 126 registers', action: () => meter.read('input', 0, 126), code: 3 },
    { what: 'any write', action: () => meter.write(0x0034, [0, 0]), code: 2 },
  ])('refuses $what with exception $code', ({ action, code }) => {
    expect(codeOf(action)).toBe(code);
  });
});
