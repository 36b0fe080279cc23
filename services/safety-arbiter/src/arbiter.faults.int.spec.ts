/**
 * The arbiter on a real nats-server (docker/nats/nats.conf), connected as user safety-arbiter, with a fake
 * modbus-poller that owns the assets and a spy on every device write: start-up, faults and the e-stop.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectBus, createBus, type Bus } from '@voltimax/bus';
import { captureLogger } from '@voltimax/bus/testing';
import { intentParams, subjects, type ArbiterDecision, type ControlIntent, type Setpoint } from '@voltimax/contracts';
import { NATS_DEV_PASSWORDS, provisionTestStreams, waitFor, type NatsUser } from '@voltimax/testing';
import { startStack, type NatsStack, type SpiedWrite } from './testing/nats-stack';
import { CONTROLLABLE, TEST_SITE } from './testing/site';

const POLL_INTERVAL_MS = 1_000; // TEST_SITE
let stack: NatsStack;
const buses = new Map<NatsUser, Bus>();
let seq = 0;

beforeAll(async () => {
  stack = await startStack();
  for (const user of ['strategy-engine', 'cli', 'cloud-bridge'] as const) {
    const connection = await connectBus({
      servers: stack.server.url,
      name: `test-${user}`,
      user,
      pass: NATS_DEV_PASSWORDS[user],
      log: captureLogger('warn').log,
    });
    buses.set(user, createBus(connection.nc, captureLogger('warn').log));
    afterAllClose.push(() => connection.nc.close());
  }
});
const afterAllClose: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.allSettled(afterAllClose.map((close) => close()));
  await stack?.stop();
});

function bus(user: NatsUser): Bus {
  const found = buses.get(user);
  if (found === undefined) throw new Error(`no bus for ${user}`);
  return found;
}

async function intent(
  user: NatsUser,
  fields: Partial<ControlIntent> & { assetId: string; setpoint: Setpoint },
): Promise<ArbiterDecision> {
  seq += 1;
  const payload: ControlIntent = {
    v: 1,
    id: `fault-${seq}`,
    source: user === 'cli' ? 'manual' : 'optimization',
    issuedAtMs: Date.now(),
    ttlMs: 600_000,
    reason: 'fault test',
    ...fields,
  };
  return bus(user).request(subjects.intent, intentParams(payload), payload, { timeoutMs: 2_000 });
}

const writesOf = (assetId: string, since = 0): SpiedWrite[] =>
  stack.spy.filter((s) => s.write?.assetId === assetId && s.atMs >= since);
const battery = (powerW: number): Setpoint => ({ kind: 'battery-power', powerW });

async function until(assetId: string, setpoint: Setpoint, message: string, timeoutMs = 3_000): Promise<SpiedWrite> {
  return waitFor(
    () => {
      const last = writesOf(assetId).at(-1);
      return last !== undefined && JSON.stringify(last.write?.setpoint) === JSON.stringify(setpoint) ? last : undefined;
    },
    { timeoutMs, message },
  );
}

describe('start-up', () => {
  it('writes the safe setpoint to every controllable asset first', async () => {
    await waitFor(() => CONTROLLABLE.every((id) => writesOf(id).length > 0), { message: 'a write per asset' });
    for (const id of CONTROLLABLE) expect(writesOf(id)[0]?.write?.setpoint).toEqual({ kind: 'safe' });
    expect(stack.spy.every((s) => s.write !== undefined)).toBe(true);
    expect(stack.spy.some((s) => s.write?.assetId === 'grid-1' || s.write?.assetId === 'load-1')).toBe(false);
  });

  it('logs the rule order at startup', () => {
    const line = stack.arbiterLog.find((l) => l.msg === 'rule order');
    expect(line?.['rules']).toEqual(
      expect.arrayContaining([expect.stringMatching(/^1\. emergency-stop/), expect.stringMatching(/^13\. ramp-rate/)]),
    );
  });

  it('finds stream AUDIT as provisioned, file storage and at least 72 h retention, and it keeps the decisions', async () => {
    const nc = await stack.connectAs('safety-arbiter');
    const info = await (await jetstreamManager(nc)).streams.info('AUDIT');
    expect(info.config.storage).toBe('file');
    expect(info.config.subjects).toEqual(['arbiter.decision.*']);
    expect(info.config.max_age).toBeGreaterThanOrEqual(72 * 3_600 * 1e9);
    await waitFor(
      async () => (await (await jetstreamManager(nc)).streams.info('AUDIT')).state.messages >= CONTROLLABLE.length,
      {
        message: 'AUDIT to hold the start-up decisions',
      },
    );
  });

  it('applies an intent once the driver and telemetry are known', async () => {
    // Until the first heartbeat and readings after its start arrive, the arbiter keeps the asset safe.
    const decision = await waitFor(
      async () => {
        const reply = await intent('strategy-engine', { assetId: 'bat-1', setpoint: battery(2_000) });
        return reply.outcome === 'safe' ? undefined : reply;
      },
      { intervalMs: 100, message: 'an applied decision' },
    );
    expect(decision).toMatchObject({ outcome: 'applied', applied: battery(2_000) });
    await until('bat-1', battery(2_000), 'the 2 kW write');
  });
});

describe('faults', () => {
  it('telemetry stops → the safe setpoint within 2 poll intervals, and the setpoint returns with it', async () => {
    await until('bat-1', battery(2_000), 'the 2 kW write');
    stack.driver.mutedTelemetry.add('bat-1');
    const lastReadingAtMs = stack.driver.lastReadingAtMs.get('bat-1') ?? Date.now();
    const safe = await until('bat-1', { kind: 'safe' }, 'the safe write', 3 * POLL_INTERVAL_MS);
    expect(safe.atMs - lastReadingAtMs).toBeLessThanOrEqual(2 * POLL_INTERVAL_MS);
    const decision = await waitFor(() =>
      stack.decisions.findLast((d) => d.assetId === 'bat-1' && d.commandId === safe.write?.commandId),
    );
    expect(decision.violations[0]).toMatchObject({ code: 'stale-telemetry', unit: 'ms', limit: 1_500 });

    stack.driver.mutedTelemetry.delete('bat-1');
    await until('bat-1', battery(2_000), 'the 2 kW write again');
  });

  it('grid meter telemetry stops → battery and EV safe', async () => {
    await intent('strategy-engine', { assetId: 'ev-1', setpoint: { kind: 'ev-current', currentA: 8 } });
    await until('ev-1', { kind: 'ev-current', currentA: 8 }, 'the EV write');
    stack.driver.mutedTelemetry.add('grid-1');
    await until('bat-1', { kind: 'safe' }, 'bat-1 safe');
    await until('ev-1', { kind: 'safe' }, 'ev-1 safe');
    stack.driver.mutedTelemetry.delete('grid-1');
    await until('ev-1', { kind: 'ev-current', currentA: 8 }, 'the EV write again');
  });

  it('driver heartbeat stops → safe; it resumes → the setpoint returns', async () => {
    await until('bat-1', battery(2_000), 'the 2 kW write');
    const stoppedAtMs = Date.now();
    stack.driver.heartbeats(false);
    const safe = await until('bat-1', { kind: 'safe' }, 'the safe write');
    // 3 missed heartbeats of 250 ms, plus the time the last one was already old.
    expect(safe.atMs - stoppedAtMs).toBeLessThanOrEqual(3 * 250 + 250 + 200);
    const decision = await waitFor(() =>
      stack.decisions.findLast((d) => d.assetId === 'bat-1' && d.commandId === safe.write?.commandId),
    );
    expect(decision.violations[0]?.code).toBe('driver-lost');
    stack.driver.heartbeats(true);
    await until('bat-1', battery(2_000), 'the 2 kW write again');
  });

  it('a write the driver does not apply raises an alarm: decision write-failed and heartbeat degraded', async () => {
    stack.driver.behave((w) => (w.assetId === 'pv-1' ? 'mismatch' : 'applied'));
    await intent('strategy-engine', { assetId: 'pv-1', setpoint: { kind: 'pv-limit', maxPowerW: 3_000 } });
    const failed = await waitFor(() =>
      stack.decisions.find((d) => d.assetId === 'pv-1' && d.violations.some((v) => v.code === 'write-failed')),
    );
    expect(failed.violations.at(-1)?.detail).toMatch(/^mismatch after 3 attempt/);
    await waitFor(
      () =>
        stack.arbiterHeartbeats.findLast(
          (h) => h.status === 'degraded' && h.detail === 'write to pv-1 failed: mismatch',
        ),
      {
        message: 'a degraded heartbeat',
      },
    );
    expect(stack.arbiterLog.some((l) => l.msg === 'device write failed' && l['assetId'] === 'pv-1')).toBe(true);
    stack.driver.behave(() => 'applied');
    await waitFor(() => stack.arbiterHeartbeats.at(-1)?.status === 'ok', { message: 'the arbiter to recover' });
  });
});

describe('emergency stop', () => {
  it('engage → every controllable asset safe at once, and it stays safe until release whatever intents arrive', async () => {
    await until('bat-1', battery(2_000), 'the 2 kW write');
    const engagedAtMs = Date.now();
    bus('cli').publish(
      subjects.estop,
      {},
      { v: 1, action: 'engage', by: 'operator:test', reason: 'fire drill', atMs: engagedAtMs },
    );
    await waitFor(
      () => CONTROLLABLE.every((id) => writesOf(id, engagedAtMs).some((s) => s.write?.setpoint.kind === 'safe')),
      {
        message: 'safe writes to every asset',
        timeoutMs: 1_000,
      },
    );
    const decisions = await waitFor(() => {
      const found = CONTROLLABLE.map((id) =>
        stack.decisions.find(
          (d) => d.assetId === id && d.atMs >= engagedAtMs && d.violations[0]?.code === 'emergency-stop',
        ),
      );
      return found.every((d) => d !== undefined) ? found : undefined;
    });
    expect(decisions.map((d) => d?.outcome)).toEqual(['safe', 'safe', 'safe']);

    const manual = await intent('cli', { assetId: 'bat-1', setpoint: battery(4_000) });
    expect(manual).toMatchObject({
      outcome: 'safe',
      violations: [expect.objectContaining({ code: 'emergency-stop' })],
    });
    const safety = await intent('strategy-engine', {
      assetId: 'ev-1',
      source: 'safety',
      setpoint: { kind: 'ev-current', currentA: 10 },
    });
    expect(safety.outcome).toBe('safe');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const during = CONTROLLABLE.flatMap((id) => writesOf(id, engagedAtMs));
    expect(during.length).toBeGreaterThanOrEqual(3);
    expect(during.filter((s) => s.write?.setpoint.kind !== 'safe')).toEqual([]);

    bus('cli').publish(
      subjects.estop,
      {},
      { v: 1, action: 'release', by: 'operator:test', reason: 'drill over', atMs: Date.now() },
    );
    await until('bat-1', battery(4_000), 'the manual setpoint after release');
    await until('ev-1', { kind: 'ev-current', currentA: 10 }, 'the safety intent after release');
  });
});

describe('the e-stop latch outlives the arbiter (stream ESTOP)', () => {
  /** Sends an e-stop as the cli and waits until stream ESTOP has kept it (a restart right after must find it). */
  async function estop(action: 'engage' | 'release', reason: string): Promise<void> {
    const jsm = await jetstreamManager(await stack.connectAs('safety-arbiter'));
    const before = (await jsm.streams.info('ESTOP')).state.last_seq;
    bus('cli').publish(subjects.estop, {}, { v: 1, action, by: 'operator:test', reason, atMs: Date.now() });
    await waitFor(async () => (await jsm.streams.info('ESTOP')).state.last_seq > before, {
      message: `ESTOP to keep the ${action}`,
    });
  }
  /** An intent for bat-1 is answered safe (e-stop), and nothing but safe setpoints is written from `fromMs` on. */
  async function expectHeld(user: NatsUser, setpoint: Setpoint, fromMs: number): Promise<void> {
    const answer = await intent(user, { assetId: 'bat-1', setpoint });
    expect(answer).toMatchObject({
      outcome: 'safe',
      violations: [expect.objectContaining({ code: 'emergency-stop' })],
    });
    // Over 1.5 s the arbiter re-evaluates several times (telemetry every 500 ms, its tick every 250 ms).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const since = CONTROLLABLE.flatMap((id) => writesOf(id, fromMs));
    expect(since.filter((w) => w.write?.setpoint.kind !== 'safe')).toEqual([]);
  }

  it('an engaged e-stop is still engaged after the arbiter restarts', async () => {
    await intent('cli', { assetId: 'bat-1', setpoint: battery(3_000) });
    await until('bat-1', battery(3_000), 'the 3 kW write');
    await estop('engage', 'restart drill');
    await until('bat-1', { kind: 'safe' }, 'the safe write after the engage');

    await stack.stopArbiter();
    const restartedAtMs = Date.now();
    await stack.startArbiter();
    await waitFor(() => stack.arbiterLog.find((l) => l.msg === 'emergency stop engaged (restored from stream ESTOP)'), {
      message: 'the latch restored',
    });
    // Intents to the new arbiter (it keeps none across a restart) are answered safe, and nothing but safe is written.
    await expectHeld('cli', battery(3_000), restartedAtMs);

    await estop('release', 'drill over');
    await until('bat-1', battery(3_000), 'the 3 kW write after the release');
  });

  it('an engage sent while the arbiter was down holds once it is back', async () => {
    await intent('cli', { assetId: 'bat-1', setpoint: battery(3_000) });
    await until('bat-1', battery(3_000), 'the 3 kW write');
    await stack.stopArbiter();
    await estop('engage', 'engaged while the arbiter was away');
    const restartedAtMs = Date.now();
    await stack.startArbiter();
    await expectHeld('strategy-engine', battery(2_500), restartedAtMs);

    await estop('release', 'back to normal');
    await until('bat-1', battery(2_500), 'the 2.5 kW write after the release');
  });

  it('junk that pushes the engage out of the stream leaves the restarted arbiter engaged, not released', async () => {
    await intent('cli', { assetId: 'bat-1', setpoint: battery(3_000) });
    await until('bat-1', battery(3_000), 'the 3 kW write');
    await estop('engage', 'then flooded');
    // A message too large to keep is still delivered, but not stored; 1,000 small invalid ones (the stream's count
    // limit) drop every valid e-stop from the stream. The live arbiter refuses them all and stays engaged.
    const cli = await stack.connectAs('cli');
    const jsm = await jetstreamManager(await stack.connectAs('safety-arbiter'));
    const before = (await jsm.streams.info('ESTOP')).state.last_seq;
    cli.publish(subjects.estop.pattern, 'x'.repeat(8_192));
    for (let i = 0; i < 1_000; i += 1) cli.publish(subjects.estop.pattern, `{"junk":${i}}`);
    await cli.flush();
    const state = await waitFor(
      async () => {
        const now = (await jsm.streams.info('ESTOP')).state;
        return now.last_seq >= before + 1_000 ? now : undefined;
      },
      { message: 'ESTOP to keep the junk' },
    );
    expect(state.last_seq).toBe(before + 1_000);
    expect(state.messages).toBe(1_000);

    await stack.stopArbiter();
    const restartedAtMs = Date.now();
    await stack.startArbiter();
    await waitFor(
      () =>
        stack.arbiterLog.find((l) => l.msg === 'older e-stops were dropped from stream ESTOP: starting from engaged'),
      {
        message: 'the truncated history noticed',
      },
    );
    await expectHeld('cli', battery(3_000), restartedAtMs);

    await estop('release', 'flood cleaned up');
    await until('bat-1', battery(3_000), 'the 3 kW write after the release');
  });
});

describe('a changed site configuration (config.updated)', () => {
  /** What the cloud bridge announces after it has written the file. */
  const announce = (sections: string[]): void =>
    bus('cloud-bridge').publish(
      subjects.configUpdated,
      {},
      { v: 1, hash: 'c'.repeat(64), atMs: Date.now(), requiresRestart: true, source: 'cloud', changedSections: sections },
    );
  const withBatteryDischarge = (maxDischargePowerW: number) => ({
    ...TEST_SITE,
    assets: (TEST_SITE.assets ?? []).map((a) =>
      a.id === 'bat-1' && a.kind === 'battery' ? { ...a, battery: { ...a.battery, maxDischargePowerW } } : a,
    ),
  });
  /** The first decision that is not the start-up hold (driver and telemetry known again). */
  const decided = (setpoint: Setpoint): Promise<ArbiterDecision> =>
    waitFor(
      async () => {
        const reply = await intent('cli', { assetId: 'bat-1', setpoint });
        return reply.outcome === 'safe' ? undefined : reply;
      },
      { intervalMs: 100, message: 'a decision after the restart' },
    );

  it('restarts the arbiter (exit 75, every asset safe on the way out), which then enforces the tightened limit', async () => {
    const original = await readFile(stack.siteFile, 'utf8');
    await intent('cli', { assetId: 'bat-1', setpoint: battery(3_000) });
    await until('bat-1', battery(3_000), 'the 3 kW write');

    await writeFile(stack.siteFile, JSON.stringify(withBatteryDischarge(2_000)));
    const changedAtMs = Date.now();
    announce(['assets']);
    await expect(stack.arbiter.exited).resolves.toBe(75);
    expect(writesOf('bat-1', changedAtMs)[0]?.write?.setpoint).toEqual({ kind: 'safe' });
    expect(stack.arbiterLog.filter((l) => l.msg === 'stopped').at(-1)).toMatchObject({ code: 75 });

    // What the supervisor does on exit 75: start it again, now with the file's limits.
    await stack.stopArbiter();
    await stack.startArbiter();
    await expect(decided(battery(3_000))).resolves.toMatchObject({ outcome: 'clamped', applied: battery(2_000) });
    await until('bat-1', battery(2_000), 'the 2 kW write');

    await writeFile(stack.siteFile, original);
    await stack.stopArbiter();
    await stack.startArbiter();
    await expect(decided(battery(3_000))).resolves.toMatchObject({ outcome: 'applied' });
  }, 20_000);

  it('keeps its limits and says so in its health when the changed file cannot be enforced; nothing changed → nothing', async () => {
    const original = await readFile(stack.siteFile, 'utf8');
    const restarts = () => stack.arbiterLog.filter((l) => l.msg === 'restarting').length;
    const restartsBefore = restarts();
    await writeFile(stack.siteFile, '{ "v": 1,');
    const changedAtMs = Date.now();
    announce(['assets']);
    await waitFor(
      () => stack.arbiterHeartbeats.find((h) => h.atMs >= changedAtMs && /cannot be used/.test(h.detail ?? '')),
      { message: 'a degraded heartbeat naming the refused file' },
    );
    await expect(decided(battery(3_000))).resolves.toMatchObject({ outcome: 'applied', applied: battery(3_000) });

    // The file back as it was: unchanged against the running site, so no restart, and the problem is cleared.
    await writeFile(stack.siteFile, original);
    const restoredAtMs = Date.now();
    announce(['assets']);
    await waitFor(
      () => stack.arbiterHeartbeats.find((h) => h.atMs >= restoredAtMs && !/cannot be used/.test(h.detail ?? '')),
      { message: 'the problem cleared' },
    );
    expect(restarts()).toBe(restartsBefore);
    await expect(decided(battery(2_500))).resolves.toMatchObject({ outcome: 'applied' });
  }, 20_000);
});

describe('every write stays inside the site limits', () => {
  it('holds for everything the spy saw in this suite', () => {
    for (const { write } of stack.spy) {
      if (write === undefined) throw new Error('unparsable write');
      const sp = write.setpoint;
      if (sp.kind === 'battery-power') expect(Math.abs(sp.powerW)).toBeLessThanOrEqual(5_000);
      if (sp.kind === 'ev-current') expect(sp.currentA === 0 || (sp.currentA >= 6 && sp.currentA <= 16)).toBe(true);
      if (sp.kind === 'pv-limit') expect(sp.maxPowerW).toBeLessThanOrEqual(6_000);
    }
  });
});

describe('AUDIT provisioned after the arbiter started (compose does not make it wait for bus-init)', () => {
  let late: NatsStack | undefined;
  afterAll(async () => late?.stop());

  it('controls at once, says AUDIT is missing, and finds it within seconds once the provisioner made it', async () => {
    late = await startStack({ provision: false });
    const started = late;
    await waitFor(() => started.arbiterHeartbeats.some((h) => /stream AUDIT not available/.test(h.detail ?? '')), {
      timeoutMs: 10_000,
      message: 'a degraded heartbeat naming the missing AUDIT',
    });
    expect(started.spy.length).toBeGreaterThan(0); // the start-up safe set-points went out all the same

    await provisionTestStreams(started.server.url);
    await waitFor(() => started.arbiterLog.some((l) => l['msg'] === 'stream AUDIT ready'), {
      timeoutMs: 10_000,
      message: 'the arbiter to find AUDIT within its 2 s retry',
    });
    const readyAt = started.arbiterHeartbeats.length;
    await waitFor(() => started.arbiterHeartbeats.slice(readyAt).some((h) => !/stream AUDIT/.test(h.detail ?? '')), {
      timeoutMs: 10_000,
      message: 'a heartbeat without the AUDIT problem',
    });
    const nc = await started.connectAs('safety-arbiter');
    expect((await (await jetstreamManager(nc)).streams.info('AUDIT')).config.subjects).toEqual(['arbiter.decision.*']);
  });
});

/** An operator's e-stop as raw JSON on `safety.estop` (by `operator:test`). */
function publishEstop(nc: NatsConnection, action: 'engage' | 'release', reason: string, atMs = Date.now()): void {
  nc.publish(subjects.estop.pattern, JSON.stringify({ v: 1, action, by: 'operator:test', reason, atMs }));
}

/** A stack whose provisioner has not run yet: the arbiter up and saying that stream ESTOP is missing. */
async function startWithoutEstopStream(): Promise<NatsStack> {
  const site = await startStack({ provision: false });
  await waitFor(() => site.arbiterLog.some((l) => l.msg === 'e-stop latch cannot be restored or kept across a restart'), {
    message: 'the arbiter to find ESTOP missing',
  });
  return site;
}

describe('a changed site while an e-stop is engaged and stream ESTOP cannot keep it', () => {
  let bare: NatsStack | undefined;
  afterAll(async () => bare?.stop());

  it('holds the restart (a restarted arbiter would come back released) until the release, then restarts', async () => {
    bare = await startWithoutEstopStream();
    const site = bare;
    const cli = await site.connectAs('cli');
    const bridge = await site.connectAs('cloud-bridge');
    const estop = (action: 'engage' | 'release') => publishEstop(cli, action, 'restart hold drill');
    estop('engage');
    await waitFor(() => site.arbiterLog.some((l) => l.msg === 'emergency stop engaged'), { message: 'the e-stop engaged' });

    const tighter = { ...TEST_SITE, grid: { ...TEST_SITE.grid, maxImportW: 9_000 } };
    await writeFile(site.siteFile, JSON.stringify(tighter));
    const changedAtMs = Date.now();
    bridge.publish(
      subjects.configUpdated.pattern,
      JSON.stringify({ v: 1, hash: 'f'.repeat(64), atMs: changedAtMs, requiresRestart: true, source: 'cloud', changedSections: ['grid'] }),
    );
    await waitFor(
      () => site.arbiterHeartbeats.find((h) => h.atMs >= changedAtMs && /waits for a restart: an engaged e-stop/.test(h.detail ?? '')),
      { message: 'a degraded heartbeat saying the restart waits' },
    );
    let exited: number | undefined;
    void site.arbiter.exited.then((code) => (exited = code));
    expect(exited).toBeUndefined();

    estop('release');
    await expect(site.arbiter.exited).resolves.toBe(75);
    expect(site.arbiterLog.filter((l) => l.msg === 'stopped').at(-1)).toMatchObject({ code: 75 });
  }, 30_000);
});

describe('an e-stop engaged before stream ESTOP existed (a first install before bus init)', () => {
  let bare: NatsStack | undefined;
  afterAll(async () => bare?.stop());

  it('is recorded by the arbiter once the stream is there, so a restart comes back engaged', async () => {
    bare = await startWithoutEstopStream();
    const site = bare;
    const cli = await site.connectAs('cli');
    const engagedAtMs = Date.now();
    publishEstop(cli, 'engage', 'first install drill', engagedAtMs);
    await waitFor(() => site.arbiterLog.some((l) => l.msg === 'emergency stop engaged'), { message: 'the e-stop engaged' });

    await provisionTestStreams(site.server.url);
    await waitFor(() => site.arbiterLog.some((l) => l.msg === 'engaged e-stop recorded in stream ESTOP'), {
      timeoutMs: 10_000,
      message: 'the arbiter recording the engage it holds (it looks for the stream every 2 s)',
    });
    const jsm = await jetstreamManager(await site.connectAs('safety-arbiter'));
    await waitFor(async () => (await jsm.streams.info('ESTOP')).state.messages === 1, { message: 'ESTOP to keep it' });
    const kept = (await jsm.streams.getMessage('ESTOP', { seq: 1 }))?.json<Record<string, unknown>>();
    expect(kept).toMatchObject({ action: 'engage', by: 'operator:test', atMs: engagedAtMs });
    expect(String(kept?.['reason'])).toMatch(/^first install drill \(recorded by the safety-arbiter/);

    await site.stopArbiter();
    await site.startArbiter();
    // (The first arbiter never said this: the stream it found later agreed with its latch.)
    await waitFor(() => site.arbiterLog.find((l) => l.msg === 'emergency stop engaged (restored from stream ESTOP)'), {
      message: 'the restarted arbiter engaged from the stream',
    });
    // Only the one engage: the restarted arbiter found it kept and recorded nothing more; and the first one did not
    // take the echo of its record for a new engage.
    await new Promise((r) => setTimeout(r, 500));
    expect((await jsm.streams.info('ESTOP')).state.messages).toBe(1);
    expect(site.arbiterLog.filter((l) => l.msg === 'emergency stop engaged again; re-writing safe setpoints')).toEqual([]);

    // A release after the record releases it, also across a restart.
    publishEstop(cli, 'release', 'drill over');
    await waitFor(async () => (await jsm.streams.info('ESTOP')).state.messages === 2, { message: 'ESTOP to keep the release' });
    await site.stopArbiter();
    const logFrom = site.arbiterLog.length;
    await site.startArbiter();
    await waitFor(() => site.arbiterLog.slice(logFrom).some((l) => l.msg === 'e-stop latch restored: released'), {
      message: 'the arbiter restarted after the release to come back released',
    });
    expect((await jsm.streams.info('ESTOP')).state.messages).toBe(2);
  }, 30_000);
});
