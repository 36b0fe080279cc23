import { createMemoryNetwork, type MemoryBus } from '@voltimax/bus/testing';
import { intentParams, subjects, type ArbiterDecision, type ControlIntent } from '@voltimax/contracts';
import {
  exampleArbiterDecision,
  exampleDecisionMetrics,
  exampleIntent,
  exampleReadings,
} from '@voltimax/contracts/testing';
import { runCli } from '../program';
import { monitor, type MonitorDeps } from './monitor';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t), readFile: async () => '' },
  };
}

interface Fake {
  readonly deps: MonitorDeps;
  readonly peer: MemoryBus;
  readonly connects: { servers: string[]; user?: string; pass?: string }[];
  closed: boolean;
  /** Runs during each delay (the collection window or a redraw interval). */
  duringDelay: (call: number) => void;
  interrupt: () => void;
  /** Files `readText` sees (the supervisor state file of --status). */
  files: Record<string, string>;
  /** The decisions in force stream AUDIT would give (inForce), by asset. */
  audit: Record<string, ArbiterDecision>;
}

function fake(env: Record<string, string> = {}): Fake {
  const network = createMemoryNetwork();
  const bus = network.connect();
  let delays = 0;
  let interrupt: () => void = () => undefined;
  const f: Fake = {
    peer: network.connect(),
    connects: [],
    closed: false,
    duringDelay: () => undefined,
    interrupt: () => interrupt(),
    deps: {
      env,
      connect: async (opts) => {
        f.connects.push(opts);
        return {
          bus,
          close: async () => {
            f.closed = true;
          },
          inForce: async (assetId) => f.audit[assetId],
        };
      },
      now: () => exampleReadings.battery.atMs + 1_000,
      delay: async () => f.duringDelay(++delays),
      interrupted: () => new Promise<void>((resolve) => (interrupt = resolve)),
      isTty: false,
      readText: (file) => f.files[file],
    },
    files: {},
    audit: {},
  };
  return f;
}

describe('voltimax monitor', () => {
  it('--once collects for the window, prints one snapshot and closes the connection', async () => {
    const f = fake({ NATS_URL: 'nats://gw:4222', NATS_PASS: 'dev-cli' });
    f.duringDelay = () => {
      f.peer.publish(subjects.telemetry, { assetId: 'bat-1' }, exampleReadings.battery);
      f.peer.publish(subjects.strategyDecision, { strategy: 'net-zero' }, exampleDecisionMetrics);
      f.peer.publish(subjects.arbiterDecision, { assetId: 'bat-1' }, exampleArbiterDecision);
    };
    const c = capture();
    await monitor(c.io, { once: true, windowMs: '500' }, f.deps);

    expect(f.connects).toEqual([{ servers: ['nats://gw:4222'], user: 'cli', pass: 'dev-cli', timeoutMs: 5_000 }]);
    const text = c.out.join('');
    expect(text).toContain('nats://gw:4222 as cli  ·  snapshot after 0.5 s');
    expect(text).toMatch(/ {2}bat-1 +battery +−2\.50 kW +63\.5 % +good/);
    expect(text).toContain('  net-zero  pid');
    expect(text).toContain('max-discharge-power (value 8000 W, limit 5000 W)');
    expect(f.closed).toBe(true);
  });

  it('keeps only the latest message per asset and counts invalid ones', async () => {
    const f = fake();
    f.duringDelay = () => {
      f.peer.publish(subjects.telemetry, { assetId: 'bat-1' }, exampleReadings.battery);
      f.peer.publish(
        subjects.telemetry,
        { assetId: 'bat-1' },
        { ...exampleReadings.battery, values: { powerW: 1_000, socPct: 70 } },
      );
      f.peer.publishRaw('telemetry.bat-1', '{"v":1}');
    };
    const c = capture();
    await monitor(c.io, { once: true }, f.deps);
    const text = c.out.join('');
    expect(text).toMatch(/bat-1 +battery +\+1\.00 kW +70\.0 %/);
    expect(text).toContain('(1 invalid message dropped)');
  });

  it('shows the decision in force, not the lower-priority intents superseded after it', async () => {
    const f = fake();
    f.duringDelay = () => {
      f.peer.publish(subjects.arbiterDecision, { assetId: 'bat-1' }, exampleArbiterDecision);
      f.peer.publish(
        subjects.arbiterDecision,
        { assetId: 'bat-1' },
        {
          ...exampleArbiterDecision,
          intentId: 'int-0003',
          source: 'optimization',
          outcome: 'superseded',
          requested: { kind: 'battery-power', powerW: -2_810 },
          violations: [],
          atMs: exampleArbiterDecision.atMs + 1_000,
        },
      );
    };
    const c = capture();
    await monitor(c.io, { once: true }, f.deps);
    const text = c.out.join('');
    expect(text).toContain('max-discharge-power (value 8000 W, limit 5000 W)');
    expect(text).not.toContain('superseded');
  });

  it('takes the decision in force from AUDIT when only superseded ones came in the window (a steady manual intent)', async () => {
    const f = fake();
    f.audit['bat-1'] = exampleArbiterDecision;
    f.duringDelay = () => {
      f.peer.publish(
        subjects.arbiterDecision,
        { assetId: 'bat-1' },
        {
          ...exampleArbiterDecision,
          intentId: 'int-0009',
          source: 'optimization',
          outcome: 'superseded',
          violations: [],
        },
      );
    };
    const c = capture();
    await monitor(c.io, { once: true }, f.deps);
    const text = c.out.join('');
    expect(text).toContain('max-discharge-power (value 8000 W, limit 5000 W)');
    expect(text).not.toContain('superseded');
  });

  it('keeps the decision in force when an intent is refused at the door after it', async () => {
    const f = fake();
    const held: ControlIntent = {
      ...exampleIntent,
      id: 'int-held',
      source: 'manual',
      setpoint: { kind: 'battery-power', powerW: 3_000 },
      reason: 'operator hold',
    };
    const refused: ControlIntent = { ...held, id: 'int-ahead', setpoint: { kind: 'battery-power', powerW: 4_000 } };
    f.duringDelay = () => {
      f.peer.publish(subjects.intent, intentParams(held), held);
      f.peer.publish(
        subjects.arbiterDecision,
        { assetId: 'bat-1' },
        {
          ...exampleArbiterDecision,
          intentId: 'int-held',
          outcome: 'applied',
          requested: held.setpoint,
          applied: held.setpoint,
          violations: [],
        },
      );
      f.peer.publish(subjects.intent, intentParams(exampleIntent), exampleIntent);
      // Future-dated: refused by the arbiter before any arbitration (no `applied`); int-held still holds.
      f.peer.publish(subjects.intent, intentParams(refused), refused);
      f.peer.publish(
        subjects.arbiterDecision,
        { assetId: 'bat-1' },
        {
          v: 1,
          assetId: 'bat-1',
          intentId: 'int-ahead',
          source: 'manual',
          outcome: 'rejected',
          requested: refused.setpoint,
          violations: [{ code: 'future-dated', detail: 'issued 1 h ahead' }],
          atMs: exampleArbiterDecision.atMs + 1_000,
        },
      );
    };
    const c = capture();
    await monitor(c.io, { once: true }, f.deps);
    const text = c.out.join('');
    expect(text).toMatch(/ {2}bat-1 .* \+3\.00 kW +manual \(over optimization\) +applied \+3\.00 kW/);
  });

  it('takes the decision in force from AUDIT for a commanded asset with no decision in the window', async () => {
    const f = fake();
    // A charger held by a steady manual limit: the arbiter publishes nothing new; meters are never looked up.
    f.audit['ev-1'] = {
      ...exampleArbiterDecision,
      assetId: 'ev-1',
      intentId: 'int-limit',
      source: 'manual',
      outcome: 'applied',
      requested: { kind: 'ev-current', currentA: 10 },
      applied: { kind: 'ev-current', currentA: 10 },
      violations: [],
    };
    const looked: string[] = [];
    const audit = f.audit;
    f.audit = new Proxy(audit, {
      get: (target, key: string) => {
        looked.push(key);
        return target[key];
      },
    });
    f.duringDelay = () => {
      f.peer.publish(subjects.telemetry, { assetId: 'ev-1' }, exampleReadings.evCharger);
      f.peer.publish(subjects.telemetry, { assetId: 'grid-1' }, exampleReadings.gridMeter);
    };
    const c = capture();
    await monitor(c.io, { once: true }, f.deps);
    const text = c.out.join('');
    expect(text).toMatch(/ {2}ev-1 .* 10 A +manual +applied 10 A/);
    expect(looked).toEqual(['ev-1']);
  });

  it('shows intents of every source subject, but not one whose payload claims another source or asset', async () => {
    const f = fake();
    const optimization: ControlIntent = exampleIntent;
    const manual: ControlIntent = {
      ...exampleIntent,
      id: 'int-manual',
      source: 'manual',
      setpoint: { kind: 'ev-current', currentA: 10, phases: 3 },
    };
    f.duringDelay = () => {
      f.peer.publish(subjects.intent, intentParams(optimization), optimization);
      f.peer.publish(subjects.intent, intentParams({ ...manual, assetId: 'ev-1' }), { ...manual, assetId: 'ev-1' });
      // On bat-1's subject, for load-1: refused by the arbiter (asset-mismatch), shown nowhere.
      f.peer.publish(subjects.intent, intentParams(manual), { ...manual, id: 'astray', assetId: 'load-1' });
      f.peer.publish(
        subjects.intent,
        { source: 'optimization', assetId: 'pv-1' },
        { ...manual, id: 'forged', assetId: 'pv-1', setpoint: { kind: 'pv-limit', maxPowerW: 0 } },
      );
    };
    const c = capture();
    await monitor(c.io, { once: true }, f.deps);
    const text = c.out.join('');
    expect(text).toMatch(/ {2}bat-1 .* −2\.50 kW +optimization /);
    expect(text).toMatch(/ {2}ev-1 .* 10 A ×3 +manual /);
    expect(text).not.toMatch(/ {2}pv-1 /);
    expect(text).not.toMatch(/ {2}load-1 /);
    expect(text).toContain('(2 intents claiming another source or asset than their subject ignored)');
  });

  it('redraws the live view until interrupted', async () => {
    const f = fake();
    f.duringDelay = (call) => {
      if (call === 3) f.interrupt();
    };
    const c = capture();
    await monitor(c.io, {}, f.deps);
    expect(c.out.filter((t) => t.startsWith('voltimax monitor'))).toHaveLength(3);
    expect(f.closed).toBe(true);
  });

  it("--status shows the supervisor's processes, the site flows, the strategy and recent warnings", async () => {
    const f = fake();
    f.files['/run/sup.json'] = JSON.stringify({
      processes: [
        { name: 'safety-arbiter', state: 'running', restarts: 0, sinceMs: 0 },
        { name: 'strategy-engine', state: 'restarting', restarts: 2, sinceMs: 0 },
      ],
      recent: ['strategy-engine | exited (1)'],
    });
    f.duringDelay = () => {
      f.peer.publish(subjects.telemetry, { assetId: 'bat-1' }, exampleReadings.battery);
      f.peer.publish(subjects.strategyDecision, { strategy: 'net-zero' }, exampleDecisionMetrics);
      f.peer.publish(subjects.arbiterDecision, { assetId: 'bat-1' }, exampleArbiterDecision);
    };
    const c = capture();
    await monitor(c.io, { once: true, status: true, supervisor: '/run/sup.json' }, f.deps);
    const text = c.out.join('');
    expect(text).toContain('services 1/2 running');
    expect(text).toMatch(/strategy-engine +restarting +no heartbeat · 2 restarts/);
    expect(text).toContain('battery −2.50 kW (SoC 63.5 %)');
    expect(text).toContain('strategy  net-zero (pid)');
    expect(text).toMatch(/arbiter {3}bat-1 clamped/);
    expect(text).toContain('recent warnings\n  strategy-engine | exited (1)');
  });

  it('--status --line prints one line; a broken supervisor file falls back to the heartbeats and says so', async () => {
    const f = fake();
    f.files['/run/sup.json'] = '{"processes": "nope"}';
    f.duringDelay = () => f.peer.publish(subjects.telemetry, { assetId: 'bat-1' }, exampleReadings.battery);
    const line = capture();
    await monitor(line.io, { once: true, status: true, line: true, supervisor: '/run/sup.json' }, f.deps);
    expect(line.out.join('')).toMatch(
      /^0\/0 services · grid — · PV — · battery −2\.50 kW SoC 63\.5 % · load — · strategy — · arbiter —$/,
    );

    const screen = capture();
    await monitor(screen.io, { once: true, status: true, supervisor: '/run/sup.json' }, f.deps);
    expect(screen.out.join('')).toMatch(/\(supervisor file unreadable: /);
  });

  it('exits 2 with a message when NATS cannot be reached', async () => {
    const f = fake({ NATS_URL: 'nats://127.0.0.1:1' });
    const deps: MonitorDeps = { ...f.deps, connect: async () => Promise.reject(new Error('CONNECTION_REFUSED')) };
    const c = capture();
    await expect(monitor(c.io, { once: true }, deps)).rejects.toMatchObject({ exitCode: 2 });
    expect(c.err.join('')).toBe('voltimax monitor: cannot connect to NATS at nats://127.0.0.1:1: CONNECTION_REFUSED\n');
  });

  it('exits 2 on an invalid window', async () => {
    const c = capture();
    expect(await runCli(['monitor', '--once', '--window-ms', 'soon'], c.io)).toBe(2);
    expect(c.err.join('')).toMatch(/--window-ms must be an integer between 50 and 600000/);
  });

  it('is listed in the help', async () => {
    const c = capture();
    await runCli(['--help'], c.io);
    expect(c.out.join('')).toMatch(/monitor \[options\] +live view of telemetry/);
  });
});
