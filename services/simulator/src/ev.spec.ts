import { SimulatedEv } from './ev';

const car = (overrides: Partial<ConstructorParameters<typeof SimulatedEv>[0]> = {}) =>
  new SimulatedEv({ plugged: true, carMaxCurrentA: 16, phases: 3, voltageV: 230, minCurrentA: 6, ...overrides });

describe('SimulatedEv', () => {
  it('draws min(offer, car maximum) on every phase: 16 A × 230 V × 3 = 11 040 W', () => {
    const ev = car();
    expect([ev.currentA(32), ev.powerW(32)]).toEqual([16, 11_040]);
    expect([ev.currentA(10), ev.powerW(10)]).toEqual([10, 6_900]);
    expect(ev.powerW(6)).toBe(4_140);
    expect(ev.cpState(10)).toBe('C');
  });

  it('pauses below the IEC 61851 minimum, and without a car', () => {
    const ev = car();
    expect([ev.powerW(5.9), ev.powerW(0), ev.powerW(Number.NaN)]).toEqual([0, 0, 0]);
    expect(ev.cpState(0)).toBe('B');
    ev.unplug();
    expect([ev.powerW(16), ev.cpState(16), ev.plugged]).toEqual([0, 'A', false]);
  });

  it('charges on one phase when forced, and a 1-phase car only on one', () => {
    expect(car().powerW(16, true)).toBe(3_680);
    expect(car({ phases: 1 }).powerW(16)).toBe(3_680);
  });

  it('counts the session energy from the plug-in', () => {
    const ev = car();
    ev.addEnergy(500);
    ev.addEnergy(-10);
    expect(ev.sessionEnergyWh).toBe(500);
    ev.unplug();
    ev.addEnergy(100);
    expect(ev.sessionEnergyWh).toBe(500);
    ev.plug();
    expect(ev.sessionEnergyWh).toBe(0);
  });
});
