import { subjectMatches } from './memory-transport';

describe('subjectMatches (NATS wildcard semantics)', () => {
  it.each([
    { filter: 'telemetry.*', subject: 'telemetry.bat-1', expected: true },
    { filter: 'telemetry.*', subject: 'telemetry.bat-1.x', expected: false },
    { filter: 'telemetry.*', subject: 'telemetry', expected: false },
    { filter: 'device.*.write', subject: 'device.bat-1.write', expected: true },
    { filter: 'device.*.write', subject: 'device.bat-1.read', expected: false },
    { filter: 'health.>', subject: 'health.a.b', expected: true },
    { filter: 'health.>', subject: 'health', expected: false },
    { filter: 'safety.estop', subject: 'safety.estop', expected: true },
    { filter: 'safety.estop', subject: 'safety.estops', expected: false },
  ])('$filter vs $subject -> $expected', ({ filter, subject, expected }) => {
    expect(subjectMatches(filter, subject)).toBe(expected);
  });
});
