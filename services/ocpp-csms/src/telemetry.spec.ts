import { getProfile, type OcppProfile } from '@voltimax/devices';
import type { ChargerAsset } from './chargers';
import type { ConnectorState } from './station';
import { connectorReading, type ReadingContext } from './telemetry';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const profile = getProfile('autel.maxicharger-ac') as OcppProfile;
const asset: ChargerAsset = {
  assetId: 'ev-1',
  chargePointId: 'CP-1',
  connectorId: 1,
  pollIntervalMs: 1000,
  phases: 3,
  minCurrentA: 6,
  maxCurrentA: 16,
  profile: { ok: true, profile },
};
const ctx: ReadingContext = {
  identity: 'CP-1',
  connected: true,
  disconnectedAtMs: undefined,
  lastSeenAtMs: NOW - 1_000,
  meterStaleMs: 30_000,
  silentStaleMs: 180_000,
};
const status = (raw: string, state: NonNullable<ConnectorState['status']>['state']) => ({ connectorId: 1, raw, state, atMs: NOW - 60_000 });
const charging = (): ConnectorState => ({
  asset,
  status: status('Charging', 'charging'),
  transaction: { id: 7, startedAtMs: NOW - 600_000, meterStartWh: 1_000, adopted: false },
  meter: { atMs: NOW - 5_000, values: { powerW: 7_000, currentL1A: 10, currentL2A: 10, currentL3A: 10, importEnergyWh: 1_800 } },
  limit: { currentA: 10, phases: 3, expiresAtMs: NOW + 10_000, confirmed: true },
});

describe('connectorReading', () => {
  it('a session with fresh meter values: good, now, power, phases, limit and session energy', () => {
    expect(connectorReading(charging(), ctx, NOW)).toEqual({
      atMs: NOW,
      quality: 'good',
      chargerState: 'charging',
      values: {
        powerW: 7_000,
        currentL1A: 10,
        currentL2A: 10,
        currentL3A: 10,
        phases: 3,
        importEnergyWh: 1_800,
        sessionEnergyWh: 800,
        currentLimitA: 10,
      },
    });
  });

  it('the offered current the charger measures wins over the limit we set', () => {
    const c = charging();
    c.meter = { atMs: NOW - 1_000, values: { ...c.meter?.values, currentOfferedA: 8 } };
    expect(connectorReading(c, ctx, NOW).values.currentLimitA).toBe(8);
  });

  it('no session and an idle state: 0 W whatever the last meter values said', () => {
    const c: ConnectorState = { asset, status: status('Available', 'available'), meter: { atMs: NOW - 900_000, values: { powerW: 7_000, currentL1A: 10, importEnergyWh: 5 } } };
    expect(connectorReading(c, ctx, NOW)).toEqual({ atMs: NOW, quality: 'good', chargerState: 'available', values: { powerW: 0, importEnergyWh: 5 } });
  });

  it('a suspended session (EV or EVSE not charging): 0 W at once, whatever the last meter values said', () => {
    const c = charging();
    c.status = status('SuspendedEVSE', 'suspended');
    c.meter = { atMs: NOW - 40_000, values: { powerW: 7_000, currentL1A: 10, importEnergyWh: 1_800 } };
    expect(connectorReading(c, ctx, NOW)).toMatchObject({ quality: 'good', chargerState: 'suspended', values: { powerW: 0, sessionEnergyWh: 800 } });
    expect(connectorReading(c, ctx, NOW).values.currentL1A).toBeUndefined();
  });

  it('a session without meter values for longer than meterStaleMs: stale, last values with their own time', () => {
    const c = charging();
    c.meter = { atMs: NOW - 40_000, values: { powerW: 7_000 } };
    expect(connectorReading(c, ctx, NOW)).toMatchObject({
      atMs: NOW - 40_000,
      quality: 'stale',
      values: { powerW: 7_000 },
      error: 'no meter values for 40 s',
    });
  });

  it('a connected charger whose state we do not know yet: good, but no claim about its power', () => {
    const c: ConnectorState = { asset, meter: { atMs: NOW - 900_000, values: { importEnergyWh: 5 } } };
    expect(connectorReading(c, ctx, NOW)).toEqual({ atMs: NOW, quality: 'good', values: { importEnergyWh: 5 } });
  });

  it('a session that just started without meter values yet is good (power unknown)', () => {
    const c: ConnectorState = { asset, status: status('Charging', 'charging'), transaction: { id: 8, startedAtMs: NOW - 2_000, adopted: false } };
    expect(connectorReading(c, ctx, NOW)).toEqual({ atMs: NOW, quality: 'good', chargerState: 'charging', values: {} });
  });

  it('a charge point silent beyond silentStaleMs: stale from its last message', () => {
    const c: ConnectorState = { asset, status: status('Available', 'available') };
    expect(connectorReading(c, { ...ctx, lastSeenAtMs: NOW - 200_000 }, NOW)).toMatchObject({
      atMs: NOW - 200_000,
      quality: 'stale',
      error: 'charge point silent for 200 s',
    });
  });

  it('not connected: error, no values, since when', () => {
    expect(connectorReading(charging(), { ...ctx, connected: false, disconnectedAtMs: NOW - 12_000 }, NOW)).toEqual({
      atMs: NOW,
      quality: 'error',
      values: {},
      error: "charge point 'CP-1' not connected for 12 s",
    });
  });

  it('a refused message: error naming it, no values', () => {
    const c = charging();
    c.issue = { kind: 'protocol', text: 'MeterValues refused: TypeConstraintViolation: …', atMs: NOW };
    expect(connectorReading(c, ctx, NOW)).toEqual({
      atMs: NOW,
      quality: 'error',
      values: {},
      error: 'MeterValues refused: TypeConstraintViolation: …',
      chargerState: 'charging',
    });
  });

  it('implausible values: error, with the plausible ones', () => {
    const c = charging();
    c.issue = { kind: 'implausible', text: 'implausible: Power.Active.Import="x": not a number', atMs: NOW };
    expect(connectorReading(c, ctx, NOW)).toMatchObject({ quality: 'error', values: { importEnergyWh: 1_800 }, error: expect.stringMatching(/^implausible/) });
  });

  it('an unusable profile: error with the reason, whatever else', () => {
    expect(connectorReading({ ...charging(), asset: { ...asset, profile: { ok: false, reason: "unknown profile 'x.y'" } } }, ctx, NOW)).toEqual({
      atMs: NOW,
      quality: 'error',
      values: {},
      error: "unknown profile 'x.y'",
    });
  });
});
