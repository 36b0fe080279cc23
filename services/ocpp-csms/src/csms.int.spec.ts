/**
 * The central system end to end on real sockets: nats-server from docker/nats/nats.conf (the csms as user ocpp-csms,
 * writes from user safety-arbiter, observation and the charger list as user cli) and OCPP 1.6-J charge points on real
 * WebSockets (ocpp-rpc clients with strict validation).
 */
import { waitFor } from '@voltimax/testing';
import { startHarness, testSite, type Csms, type Harness } from './testing/harness';
import { TestChargePoint } from './testing/test-charge-point';

jest.setTimeout(30_000);

let h: Harness;
let csms: Csms;
const cps: TestChargePoint[] = [];

async function chargePoint(identity: string, opts: { rateUnit?: string; boot?: boolean } = {}): Promise<TestChargePoint> {
  const cp = new TestChargePoint({ endpoint: csms.endpoint, identity, ...(opts.rateUnit === undefined ? {} : { rateUnit: opts.rateUnit }) });
  cps.push(cp);
  await cp.connect();
  if (opts.boot !== false) await cp.boot();
  return cp;
}

beforeAll(async () => {
  h = await startHarness();
});

beforeEach(async () => {
  csms = await h.startCsms();
});

afterEach(async () => {
  await Promise.allSettled(cps.splice(0).map((cp) => cp.close(true)));
  await h.stopCsms(csms);
});

afterAll(async () => {
  await h?.stop();
});

describe('boot, status and meter values become telemetry', () => {
  it('a configured charge point is accepted and set up: rate unit read, meter interval and measurands set', async () => {
    const cp = await chargePoint('CP-1');
    await waitFor(() => cp.calls('TriggerMessage').length >= 1, { message: 'the set-up' });
    expect(cp.calls('GetConfiguration')[0]?.params['key']).toEqual([
      'ChargingScheduleAllowedChargingRateUnit',
      'MeterValueSampleInterval',
      'MeterValuesSampledData',
    ]);
    expect(cp.config.get('MeterValueSampleInterval')).toBe('10');
    expect(cp.config.get('MeterValuesSampledData')).toBe('Current.Import,Energy.Active.Import.Register,Power.Active.Import');
    expect(cp.calls('TriggerMessage')[0]?.params).toEqual({ requestedMessage: 'StatusNotification', connectorId: 1 });
  });

  it('status and a session with meter values: good readings with power, currents, energy and the session energy', async () => {
    const since = h.readings.length;
    const cp = await chargePoint('CP-1');
    await cp.status(1, 'Preparing');
    await h.reading('ev-1', (r) => r.quality === 'good' && r.chargerState === 'preparing', { sinceIndex: since });
    const { transactionId, status } = await cp.startTransaction(1, 10_000);
    expect(status).toBe('Accepted');
    await cp.status(1, 'Charging');
    await cp.meterValues(1, transactionId, { powerW: 7_000, energyWh: 10_500, currentsA: [10.1, 10.2, 10.0], socPct: 41 });
    const reading = await h.reading('ev-1', (r) => r.values.powerW === 7_000, { sinceIndex: since });
    expect(reading).toMatchObject({
      kind: 'ev-charger',
      quality: 'good',
      chargerState: 'charging',
      values: {
        powerW: 7_000,
        currentL1A: 10.1,
        currentL2A: 10.2,
        currentL3A: 10,
        importEnergyWh: 10_500,
        sessionEnergyWh: 500,
        socPct: 41,
        phases: 3,
      },
    });
    const sequences = h.readingsOf('ev-1', since).map((r) => r.sequence);
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));

    await cp.stopTransaction(transactionId, 11_000);
    await cp.status(1, 'Finishing');
    const after = await h.reading('ev-1', (r) => r.chargerState === 'finishing', { sinceIndex: since });
    expect(after.values).toMatchObject({ powerW: 0, importEnergyWh: 11_000 });
    expect(after.values.sessionEnergyWh).toBeUndefined();
  });

  it('a charger not connected is published as an error reading, and the heartbeat lists connected chargers only', async () => {
    const since = h.readings.length;
    const error = await h.reading('ev-2a', (r) => r.quality === 'error', { sinceIndex: since });
    expect(error.error).toMatch(/charge point 'CP-2' not connected/);
    expect(error.values).toEqual({});
    await chargePoint('CP-1');
    const beat = await waitFor(() => h.heartbeats.slice(-1).find((b) => b.assets?.includes('ev-1')), {
      message: 'a heartbeat with ev-1',
    });
    expect(beat.assets).toEqual(['ev-1']);
    expect(beat.status).toBe('degraded');
    expect(beat.detail).toMatch(/ev-2a, ev-2b/);
  });

  it('the charger list shows connection, status, power, session and who knocked without being known', async () => {
    const cp = await chargePoint('CP-1');
    await cp.status(1, 'Charging');
    const { transactionId } = await cp.startTransaction(1, 2_000);
    await cp.meterValues(1, transactionId, { powerW: 3_600, energyWh: 2_400 });
    const stranger = await chargePoint('CP-STRANGER', { boot: false });
    expect(await stranger.boot()).toMatchObject({ status: 'Rejected', interval: 300 });
    const list = await waitFor(
      async () => {
        const reply = await h.chargers();
        return reply.chargers.find((c) => c.assetId === 'ev-1')?.powerW === 3_600 ? reply : undefined;
      },
      { message: 'the list to show the power' },
    );
    expect(list.chargers.find((c) => c.assetId === 'ev-1')).toMatchObject({
      chargePointId: 'CP-1',
      connectorId: 1,
      connected: true,
      protocol: 'ocpp1.6',
      state: 'charging',
      ocppStatus: 'Charging',
      session: { transactionId, energyWh: 400, adopted: false },
      rateUnit: 'A',
      vendor: 'Autel',
      model: 'MaxiChargerAC',
    });
    expect(list.chargers.find((c) => c.assetId === 'ev-2b')).toMatchObject({ connected: false, connectorId: 2 });
    expect(list.unknown[0]).toMatchObject({ chargePointId: 'CP-STRANGER', reason: 'unknown identity: boot rejected' });
  });

  it('an unknown charge point is Rejected at boot and cannot send anything else', async () => {
    const stranger = await chargePoint('CP-9', { boot: false });
    expect(await stranger.boot()).toMatchObject({ status: 'Rejected' });
    await expect(stranger.status(1, 'Available')).rejects.toMatchObject({ rpcErrorCode: 'SecurityError' });
    expect(h.readings.some((r) => r.assetId.includes('9'))).toBe(false);
  });
});

describe('device writes become charging profiles', () => {
  it('without a session: TxDefaultProfile in amps, with the device-side fallback to 0 A, read back from the composite schedule', async () => {
    const cp = await chargePoint('CP-1');
    const before = Date.now();
    const result = await h.write('ev-1', { kind: 'ev-current', currentA: 10 }, { validForMs: 15_000 });
    expect(result).toMatchObject({ status: 'applied', readBack: 10 });
    const schedule = (cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles'] as { chargingSchedule: { startSchedule: string } }).chargingSchedule;
    expect(Date.parse(schedule.startSchedule)).toBeGreaterThanOrEqual(before - 60_000);
    expect(Date.parse(schedule.startSchedule)).toBeLessThanOrEqual(Date.now() - 60_000);
    const profile = cp.calls('SetChargingProfile').at(-1)?.params;
    expect(profile).toMatchObject({
      connectorId: 1,
      csChargingProfiles: {
        chargingProfilePurpose: 'TxDefaultProfile',
        chargingProfileKind: 'Absolute',
        stackLevel: 1,
        chargingSchedule: {
          chargingRateUnit: 'A',
          chargingSchedulePeriod: [
            { startPeriod: 0, limit: 10, numberPhases: 3 },
            // 15 s validity after a start backdated by 60 s (chargers whose clock lags ours)
            { startPeriod: 75, limit: 0, numberPhases: 3 },
          ],
        },
      },
    });
    expect(cp.calls('GetCompositeSchedule')).toHaveLength(1);
  });

  it('during a session: TxProfile for that transaction; the limit shows in telemetry', async () => {
    const cp = await chargePoint('CP-1');
    const { transactionId } = await cp.startTransaction(1, 0);
    await cp.status(1, 'Charging');
    const since = h.readings.length;
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 8 })).toMatchObject({ status: 'applied', readBack: 8 });
    expect(cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles']).toMatchObject({
      chargingProfilePurpose: 'TxProfile',
      transactionId,
    });
    await h.reading('ev-1', (r) => r.values.currentLimitA === 8, { sinceIndex: since });
  });

  it('a Faulted status does not end the session: after the fault clears, limits and the safe setpoint go to its TxProfile', async () => {
    const cp = await chargePoint('CP-1');
    const { transactionId } = await cp.startTransaction(1, 1_000);
    await cp.status(1, 'Charging');
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 16 })).toMatchObject({ status: 'applied', readBack: 16 });
    // OCPP 1.6 lets a connector go Charging → Faulted → Charging within one transaction (only StopTransaction ends it).
    await cp.status(1, 'Faulted', 'GroundFailure');
    await cp.status(1, 'Charging');
    // The charger's composite schedule is still the transaction's TxProfile: a default profile would not lower it.
    expect(await h.write('ev-1', { kind: 'safe' })).toMatchObject({ status: 'applied', readBack: 0 });
    expect(cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles']).toMatchObject({
      chargingProfilePurpose: 'TxProfile',
      transactionId,
    });
  });

  it('after a session: the limit the charger accepted, not the session’s last offered current or currents', async () => {
    const cp = await chargePoint('CP-1');
    await cp.status(1, 'Charging');
    const { transactionId } = await cp.startTransaction(1, 0);
    await cp.call('MeterValues', {
      connectorId: 1,
      transactionId,
      meterValue: [
        {
          timestamp: new Date().toISOString(),
          sampledValue: [
            { measurand: 'Current.Offered', unit: 'A', value: '16' },
            { measurand: 'Current.Import', unit: 'A', phase: 'L1', value: '15.8' },
            { measurand: 'Voltage', unit: 'V', phase: 'L1-N', value: '231' },
            { measurand: 'Energy.Active.Import.Register', unit: 'Wh', value: '500' },
          ],
        },
      ],
    });
    await h.reading('ev-1', (r) => r.values.currentLimitA === 16);
    await cp.stopTransaction(transactionId, 600);
    await cp.status(1, 'Finishing');
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 6 })).toMatchObject({ status: 'applied', readBack: 6 });
    const since = h.readings.length;
    const reading = await h.reading('ev-1', (r) => r.quality === 'good', { sinceIndex: since });
    expect(reading.values).toEqual({ powerW: 0, importEnergyWh: 600, voltageL1V: 231, currentLimitA: 6 });
  });

  it('a charger that takes watts gets the limit in W (A × phases × 230 V), read back in A', async () => {
    const cp = await chargePoint('CP-1', { rateUnit: 'Power' });
    await waitFor(() => cp.calls('ChangeConfiguration').length >= 2, { message: 'the set-up' });
    const result = await h.write('ev-1', { kind: 'ev-current', currentA: 10 });
    expect(result).toMatchObject({ status: 'applied', readBack: 10 });
    const schedule = (cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles'] as Record<string, unknown>)['chargingSchedule'];
    expect(schedule).toMatchObject({ chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6_900 }, { limit: 0 }] });
  });

  it('the safe setpoint is 0 A without a fallback period', async () => {
    const cp = await chargePoint('CP-1');
    expect(await h.write('ev-1', { kind: 'safe' })).toMatchObject({ status: 'applied', readBack: 0 });
    const schedule = (cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles'] as Record<string, unknown>)['chargingSchedule'];
    expect(schedule).toMatchObject({ chargingSchedulePeriod: [{ startPeriod: 0, limit: 0, numberPhases: 3 }] });
  });

  it('Rejected → rejected; a CALLERROR → failed; no answer → timeout; a different composite → mismatch', async () => {
    const cp = await chargePoint('CP-1');
    cp.answer('SetChargingProfile', () => ({ status: 'Rejected' }));
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 10 })).toMatchObject({
      status: 'rejected',
      error: 'SetChargingProfile rejected',
    });
    cp.answer('SetChargingProfile', () => {
      throw new Error('internal failure of the test charger');
    });
    const failed = await h.write('ev-1', { kind: 'ev-current', currentA: 10 });
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/CALLERROR GenericError: internal failure of the test charger/);
    cp.answer('SetChargingProfile', () => new Promise(() => undefined));
    expect((await h.write('ev-1', { kind: 'ev-current', currentA: 10 })).status).toBe('timeout');
    cp.answer('SetChargingProfile', () => ({ status: 'Accepted' }));
    cp.answer('GetCompositeSchedule', () => ({
      status: 'Accepted',
      scheduleStart: new Date().toISOString(),
      chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 6 }] },
    }));
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 10 })).toMatchObject({
      status: 'mismatch',
      readBack: 6,
      error: 'set 10 A, composite schedule says 6 A',
    });
  });

  it('without GetCompositeSchedule the read-back is the profile the charger accepted', async () => {
    const cp = await chargePoint('CP-1');
    cp.answer('GetCompositeSchedule', () => {
      throw Object.assign(new Error('not here'), { rpcErrorCode: 'NotImplemented' });
    });
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 12.37 })).toMatchObject({ status: 'applied', readBack: 12.3 });
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 9 })).toMatchObject({ status: 'applied', readBack: 9 });
    expect(cp.calls('GetCompositeSchedule')).toHaveLength(1);
  });

  it('a charger that is not connected: failed, named', async () => {
    expect(await h.write('ev-2a', { kind: 'ev-current', currentA: 10 })).toMatchObject({
      status: 'failed',
      error: "charge point 'CP-2' is not connected",
    });
  });

  it('a retry with the same command id gets the first answer without a second profile', async () => {
    const cp = await chargePoint('CP-1');
    const first = await h.write('ev-1', { kind: 'ev-current', currentA: 7 }, { commandId: 'cmd-same' });
    const again = await h.write('ev-1', { kind: 'ev-current', currentA: 7 }, { commandId: 'cmd-same' });
    expect(again).toEqual(first);
    expect(cp.calls('SetChargingProfile')).toHaveLength(1);
  });

  it('a write for another driver’s asset is left to its owner: not answered, counted', async () => {
    await expect(h.write('grid-1', { kind: 'safe' }, { timeoutMs: 300 })).rejects.toThrow(/no reply within 300 ms/);
    await waitFor(() => (h.heartbeats.at(-1)?.counters?.['foreignWrites'] ?? 0) >= 1, { message: 'foreignWrites counted' });
  });

  it('a second connector of a single-phase wiring gets numberPhases 1', async () => {
    const cp = await chargePoint('CP-2');
    expect(await h.write('ev-2b', { kind: 'ev-current', currentA: 16 })).toMatchObject({ status: 'applied' });
    expect(cp.calls('SetChargingProfile').at(-1)?.params).toMatchObject({
      connectorId: 2,
      csChargingProfiles: { chargingProfileId: 1020, chargingSchedule: { chargingSchedulePeriod: [{ limit: 16, numberPhases: 1 }, { limit: 0 }] } },
    });
  });
});

describe('session start and stop', () => {
  it('start: the default profile, then RemoteStartTransaction with the limit; the session then gets its TxProfile; once per intent', async () => {
    const cp = await chargePoint('CP-1');
    const result = await h.write('ev-1', { kind: 'ev-current', currentA: 11, session: 'start' }, { intentId: 'int-start-1' });
    expect(result).toMatchObject({ status: 'applied', readBack: 11, error: 'session start requested' });
    const remote = cp.calls('RemoteStartTransaction')[0]?.params;
    expect(remote).toMatchObject({
      connectorId: 1,
      idTag: 'voltimax',
      chargingProfile: { chargingProfilePurpose: 'TxProfile', chargingSchedule: { chargingSchedulePeriod: [{ limit: 11 }, { limit: 0 }] } },
    });
    const { transactionId, status } = await cp.startTransaction(1, 100, 'voltimax');
    expect(status).toBe('Accepted');
    await waitFor(() => cp.calls('SetChargingProfile').some((c) => (c.params['csChargingProfiles'] as Record<string, unknown>)['transactionId'] === transactionId), {
      message: 'the TxProfile of the new session',
    });
    // The arbiter re-asserts the same intent: no second remote start.
    await h.write('ev-1', { kind: 'ev-current', currentA: 11, session: 'start' }, { intentId: 'int-start-1' });
    expect(cp.calls('RemoteStartTransaction')).toHaveLength(1);
  });

  it('start: the TxProfile of RemoteStartTransaction has its own id, so the TxDefaultProfile outlives the session', async () => {
    const cp = await chargePoint('CP-1');
    // OCPP 1.6 SetChargingProfile: a profile replaces the installed one with the same id, or the same stack level and purpose.
    const installed = new Map<number, Record<string, unknown>>();
    const install = (profile: Record<string, unknown>) => {
      for (const [id, other] of installed) {
        const samePlace = other['stackLevel'] === profile['stackLevel'] && other['chargingProfilePurpose'] === profile['chargingProfilePurpose'];
        if (id === profile['chargingProfileId'] || samePlace) installed.delete(id);
      }
      installed.set(profile['chargingProfileId'] as number, profile);
    };
    cp.answer('SetChargingProfile', (params) => (install(params['csChargingProfiles'] as Record<string, unknown>), { status: 'Accepted' }));
    cp.answer('RemoteStartTransaction', (params) => (install(params['chargingProfile'] as Record<string, unknown>), { status: 'Accepted' }));
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 11, session: 'start' }, { intentId: 'int-start-2' })).toMatchObject({
      status: 'applied',
    });
    const defaultProfile = cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles'];
    expect(defaultProfile).toMatchObject({ chargingProfilePurpose: 'TxDefaultProfile', chargingProfileId: 1010 });
    expect(cp.calls('RemoteStartTransaction')[0]?.params['chargingProfile']).toMatchObject({ chargingProfilePurpose: 'TxProfile', chargingProfileId: 1011 });
    const { transactionId } = await cp.startTransaction(1, 0, 'voltimax');
    await waitFor(() => [...installed.values()].some((p) => p['transactionId'] === transactionId), { message: 'the TxProfile of the new session' });
    expect(installed.get(1011)).toMatchObject({ chargingProfilePurpose: 'TxProfile', transactionId });
    await cp.stopTransaction(transactionId, 500);
    // A TxProfile ends with its transaction; the default (with its fallback to 0 A) must be left for the next session.
    for (const [id, profile] of installed) if (profile['chargingProfilePurpose'] === 'TxProfile') installed.delete(id);
    expect([...installed.values()]).toEqual([defaultProfile]);
  });

  it('stop: RemoteStopTransaction of the running session, once per intent', async () => {
    const cp = await chargePoint('CP-1');
    const { transactionId } = await cp.startTransaction(1, 0);
    const result = await h.write('ev-1', { kind: 'ev-current', currentA: 0, session: 'stop' }, { intentId: 'int-stop-1' });
    expect(result).toMatchObject({ status: 'applied', error: 'session stop requested' });
    expect(cp.calls('RemoteStopTransaction')).toEqual([{ method: 'RemoteStopTransaction', params: { transactionId } }]);
    expect(cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles']).toMatchObject({ chargingProfilePurpose: 'TxDefaultProfile' });
    await h.write('ev-1', { kind: 'ev-current', currentA: 0, session: 'stop' }, { intentId: 'int-stop-1' });
    expect(cp.calls('RemoteStopTransaction')).toHaveLength(1);
  });

  it('a refused remote start is a rejected write', async () => {
    const cp = await chargePoint('CP-1');
    cp.answer('RemoteStartTransaction', () => ({ status: 'Rejected' }));
    expect(await h.write('ev-1', { kind: 'ev-current', currentA: 10, session: 'start' })).toMatchObject({
      status: 'rejected',
      error: 'RemoteStartTransaction rejected (is an EV plugged in?)',
    });
  });
});

describe('authorization', () => {
  it('local list: unknown tags are Invalid, listed ones and our remote tag Accepted', async () => {
    await h.stopCsms(csms);
    csms = await h.startCsms({ env: { OCPP_AUTHORIZE: 'local-list', OCPP_ID_TAGS: 'ALICE,BOB' } });
    const cp = await chargePoint('CP-1');
    expect(await cp.call('Authorize', { idTag: 'MALLORY' })).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(await cp.call('Authorize', { idTag: 'ALICE' })).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect((await cp.startTransaction(1, 0, 'MALLORY')).status).toBe('Invalid');
    expect((await cp.startTransaction(1, 0, 'voltimax')).status).toBe('Accepted');
  });

  it('local list: StopTransaction answers for its idTag what Authorize answers', async () => {
    await h.stopCsms(csms);
    csms = await h.startCsms({ env: { OCPP_AUTHORIZE: 'local-list', OCPP_ID_TAGS: 'ALICE' } });
    const cp = await chargePoint('CP-1');
    const stop = async (idTag: string) => {
      const { transactionId } = await cp.startTransaction(1, 0, 'ALICE');
      return cp.call('StopTransaction', { transactionId, idTag, meterStop: 100, timestamp: new Date().toISOString(), reason: 'Local' });
    };
    expect(await cp.call('Authorize', { idTag: 'MALLORY' })).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(await stop('MALLORY')).toEqual({ idTagInfo: { status: 'Invalid' } });
    expect(await stop('ALICE')).toEqual({ idTagInfo: { status: 'Accepted' } });
    expect(await stop('voltimax')).toEqual({ idTagInfo: { status: 'Accepted' } });
  });

  it('accept-all by default', async () => {
    const cp = await chargePoint('CP-1');
    expect(await cp.call('Authorize', { idTag: 'ANYONE' })).toEqual({ idTagInfo: { status: 'Accepted' } });
  });
});

describe('configuration refused at start', () => {
  it('two assets on one connector are a configuration error naming both', async () => {
    const site = testSite();
    const assets = site.assets.map((a) => (a.id === 'ev-2b' ? { ...a, connection: { protocol: 'ocpp' as const, chargePointId: 'CP-2', connectorId: 1 } } : a));
    await expect(h.startCsms({ site: { ...site, assets } })).rejects.toThrow(
      /SITE_FILE: assets 'ev-2a' and 'ev-2b' are both connector 1 of charge point 'CP-2'/,
    );
  });
});
