/**
 * Lost links, re-connects and restarts with a session running. The charge point talks to the central system through
 * a TCP relay the test can cut (a dropped link, both ends alive) or point at a restarted central system.
 */
import { waitFor } from '@voltimax/testing';
import { startHarness, type Csms, type Harness } from './testing/harness';
import { startTcpProxy, type TcpProxy } from './testing/proxy';
import { TestChargePoint } from './testing/test-charge-point';

jest.setTimeout(30_000);

let h: Harness;
let proxy: TcpProxy;
const cps: TestChargePoint[] = [];
const started: Csms[] = [];

function viaProxy(identity: string): TestChargePoint {
  const cp = new TestChargePoint({ endpoint: `ws://127.0.0.1:${proxy.port}/ocpp`, identity, reconnect: true });
  cps.push(cp);
  return cp;
}

beforeAll(async () => {
  h = await startHarness();
});

beforeEach(async () => {
  proxy = await startTcpProxy(1);
});

afterEach(async () => {
  await Promise.allSettled(cps.splice(0).map((cp) => cp.close(true)));
  for (const csms of started.splice(0)) await h.stopCsms(csms);
  await proxy.close();
});

afterAll(async () => {
  await h?.stop();
});

async function csmsBehindProxy(env: Record<string, string> = {}): Promise<Csms> {
  const csms = await h.startCsms({ env });
  started.push(csms);
  proxy.targetPort = csms.port;
  return csms;
}

it('a dropped link with a session running: error while away, the same session after the re-connect (no new boot)', async () => {
  await csmsBehindProxy();
  const cp = viaProxy('CP-1');
  await cp.connect();
  await cp.boot();
  await cp.status(1, 'Charging');
  const { transactionId } = await cp.startTransaction(1, 1_000);
  await cp.meterValues(1, transactionId, { powerW: 7_000, energyWh: 1_200 });
  await h.reading('ev-1', (r) => r.values.powerW === 7_000);

  const since = h.readings.length;
  proxy.cut();
  const away = await h.reading('ev-1', (r) => r.quality === 'error', { sinceIndex: since });
  expect(away.error).toMatch(/not connected/);
  await waitFor(() => cp.events.filter((e) => e === 'open').length >= 2, { message: 'the charge point to re-connect' });
  await cp.meterValues(1, transactionId, { powerW: 6_000, energyWh: 1_500 });
  const back = await h.reading('ev-1', (r) => r.quality === 'good' && r.values.powerW === 6_000, { sinceIndex: since });
  expect(back.values.sessionEnergyWh).toBe(500);
  const list = await h.chargers();
  expect(list.chargers.find((c) => c.assetId === 'ev-1')?.session).toMatchObject({ transactionId, adopted: false });
  // The limit goes to the same session, and the re-connected charger was set up again.
  expect(await h.write('ev-1', { kind: 'ev-current', currentA: 9 })).toMatchObject({ status: 'applied' });
  expect(cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles']).toMatchObject({ transactionId });
  await waitFor(() => cp.calls('GetConfiguration').length >= 2, { message: 'set-up after the re-connect' });
  expect(cp.calls('BootNotification')).toHaveLength(0);
});

it('messages queued while the link is down arrive after the re-connect', async () => {
  await csmsBehindProxy();
  const cp = viaProxy('CP-1');
  await cp.connect();
  await cp.boot();
  const { transactionId } = await cp.startTransaction(1, 0);
  proxy.refuse = true;
  proxy.cut();
  // Calls made while the client re-connects are queued (in-flight ones at the moment of the cut are lost, as in OCPP).
  await waitFor(() => cp.events.includes('disconnect'), { message: 'the charge point to notice' });
  const sent = cp.meterValues(1, transactionId, { powerW: 4_321, energyWh: 50 });
  proxy.refuse = false;
  await sent;
  await h.reading('ev-1', (r) => r.values.powerW === 4_321);
});

it('a restarted central system continues a session it never saw start (transactionId continuity)', async () => {
  const first = await csmsBehindProxy();
  const cp = viaProxy('CP-1');
  await cp.connect();
  await cp.boot();
  await cp.status(1, 'Charging');
  const { transactionId } = await cp.startTransaction(1, 5_000);
  started.splice(started.indexOf(first), 1);
  await h.stopCsms(first);

  await csmsBehindProxy();
  await waitFor(() => cp.events.filter((e) => e === 'open').length >= 2, { message: 'the charge point to re-connect' });
  const since = h.readings.length;
  await cp.meterValues(1, transactionId, { powerW: 11_000, energyWh: 5_800 });
  const reading = await h.reading('ev-1', (r) => r.values.powerW === 11_000, { sinceIndex: since });
  expect(reading.quality).toBe('good');
  const listed = (await h.chargers()).chargers.find((c) => c.assetId === 'ev-1');
  expect(listed?.session).toMatchObject({ transactionId, adopted: true });

  const limited = await h.write('ev-1', { kind: 'ev-current', currentA: 6 });
  expect([limited.status, limited.error]).toEqual(['applied', undefined]);
  expect(cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles']).toMatchObject({
    chargingProfilePurpose: 'TxProfile',
    transactionId,
  });
  expect(await cp.stopTransaction(transactionId, 6_000)).toEqual({});
  const stopped = await h.reading('ev-1', (r) => r.values.importEnergyWh === 6_000, { sinceIndex: since });
  expect(stopped.values.powerW).toBe(0);
  // New sessions after the restart get ids above the old one.
  const next = await cp.startTransaction(1, 6_000);
  expect(next.transactionId).toBeGreaterThan(transactionId);
  await waitFor(() => (h.heartbeats.at(-1)?.counters?.['unknownTransactions'] ?? 0) >= 1, { message: 'unknownTransactions counted' });
});

it('a stop of a session nobody knows is accepted, and StatusNotification Available ends a session whose stop was lost', async () => {
  await csmsBehindProxy();
  const cp = viaProxy('CP-1');
  await cp.connect();
  await cp.boot();
  expect(await cp.stopTransaction(424_242, 10)).toEqual({});
  const { transactionId } = await cp.startTransaction(1, 0);
  await cp.status(1, 'Charging');
  await cp.status(1, 'Available');
  const list = await waitFor(async () => {
    const reply = await h.chargers();
    return reply.chargers.find((c) => c.assetId === 'ev-1' && c.state === 'available');
  }, { message: 'available' });
  expect(list.session).toBeUndefined();
  expect(transactionId).toBeGreaterThan(0);
});

it('a reboot (BootNotification) ends the charger’s session: limits go out as TxDefaultProfile, a late stop of it is accepted', async () => {
  await csmsBehindProxy();
  const cp = viaProxy('CP-1');
  // Like a compliant charger (OCTT TC_058_1): a TxProfile for a transaction it does not run is Rejected.
  let running: number | undefined;
  cp.answer('SetChargingProfile', (params) => {
    const profile = params['csChargingProfiles'] as Record<string, unknown>;
    if (profile['chargingProfilePurpose'] === 'TxProfile' && profile['transactionId'] !== running) return { status: 'Rejected' };
    cp.profiles.set(profile['chargingProfilePurpose'] as string, profile);
    return { status: 'Accepted' };
  });
  await cp.connect();
  await cp.boot();
  await waitFor(() => cp.calls('TriggerMessage').length >= 1, { message: 'the set-up' });
  await cp.status(1, 'Charging');
  const old = (await cp.startTransaction(1, 1_000)).transactionId;
  running = old;
  expect(await h.write('ev-1', { kind: 'ev-current', currentA: 10 })).toMatchObject({ status: 'applied' });
  expect(cp.calls('SetChargingProfile').at(-1)?.params['csChargingProfiles']).toMatchObject({ chargingProfilePurpose: 'TxProfile', transactionId: old });

  // The charger reboots: its transaction and profiles are gone; the EV is still plugged in.
  running = undefined;
  cp.profiles.clear();
  const before = cp.calls('SetChargingProfile').length;
  await cp.boot();
  await cp.status(1, 'Preparing');
  await waitFor(() => cp.calls('SetChargingProfile').length > before, { message: 'the re-apply after the boot' });
  expect(await h.write('ev-1', { kind: 'ev-current', currentA: 6 })).toMatchObject({ status: 'applied', readBack: 6 });
  const sent = cp.calls('SetChargingProfile').slice(before).map((c) => c.params['csChargingProfiles'] as Record<string, unknown>);
  expect(sent.map((p) => [p['chargingProfilePurpose'], p['transactionId']])).toEqual([
    ['TxDefaultProfile', undefined],
    ['TxDefaultProfile', undefined],
  ]);
  expect([...cp.profiles.keys()]).toEqual(['TxDefaultProfile']);
  expect((await h.chargers()).chargers.find((c) => c.assetId === 'ev-1')?.session).toBeUndefined();
  // The charger's offline queue delivers the stop of the session the reboot ended.
  const stop = { transactionId: old, idTag: 'TAG-1', meterStop: 1_500, timestamp: new Date().toISOString(), reason: 'Reboot' };
  expect(await cp.call('StopTransaction', stop)).toEqual({ idTagInfo: { status: 'Accepted' } });
});

it('a second connection of the same identity replaces the first', async () => {
  const csms = await csmsBehindProxy();
  const first = new TestChargePoint({ endpoint: `ws://127.0.0.1:${proxy.port}/ocpp`, identity: 'CP-1' });
  cps.push(first);
  await first.connect();
  await first.boot();
  const second = new TestChargePoint({ endpoint: csms.endpoint, identity: 'CP-1' });
  cps.push(second);
  await second.connect();
  await waitFor(() => first.events.includes('disconnect'), { message: 'the older connection to be closed' });
  expect(await second.boot()).toMatchObject({ status: 'Accepted' });
  const limited = await h.write('ev-1', { kind: 'ev-current', currentA: 7 });
  expect([limited.status, limited.error]).toEqual(['applied', undefined]);
  expect(second.calls('SetChargingProfile')).toHaveLength(1);
});

it('a charger that goes silent during a session turns stale with its last values and their time', async () => {
  await csmsBehindProxy({ METER_STALE_MS: '1000' });
  const cp = viaProxy('CP-1');
  await cp.connect();
  await cp.boot();
  const { transactionId } = await cp.startTransaction(1, 0);
  await cp.status(1, 'Charging');
  const sampledAtMs = Date.now();
  await cp.meterValues(1, transactionId, { powerW: 3_000, energyWh: 10, atMs: sampledAtMs });
  const stale = await h.reading('ev-1', (r) => r.quality === 'stale');
  expect(stale.values.powerW).toBe(3_000);
  expect(stale.atMs).toBe(sampledAtMs);
  expect(stale.error).toMatch(/no meter values for \d+ s/);
  await cp.meterValues(1, transactionId, { powerW: 2_000, energyWh: 20 });
  await h.reading('ev-1', (r) => r.quality === 'good' && r.values.powerW === 2_000);
});
