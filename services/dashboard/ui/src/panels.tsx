// The panels of the pages: alarms, strategies, arbiter decisions, devices and services, the manual setpoint form.
import { useState } from 'preact/hooks';
import { sendIntent } from './api';
import {
  formatAge,
  formatClock,
  formatMetric,
  formatPct,
  formatPower,
  formatSetpoint,
  formatViolation,
} from './format';
import type {
  ActionRecord,
  Alarm,
  ArbiterDecision,
  ControllableAsset,
  DashboardSnapshot,
  Setpoint,
  StrategyView,
} from './types';

export function AlarmsPanel({ alarms, nowMs }: { readonly alarms: readonly Alarm[]; readonly nowMs: number }) {
  return (
    <section class="card" data-testid="alarms">
      <h2>Alarms {alarms.length > 0 && <span class="count">{alarms.length}</span>}</h2>
      {alarms.length === 0 ? (
        <p class="ok-text">No alarms.</p>
      ) : (
        <ul class="alarms">
          {alarms.map((a) => (
            <li key={a.id} class={`alarm alarm-${a.severity}`} data-code={a.code}>
              <span class="badge">{a.severity}</span> {a.text}
              {a.sinceMs !== undefined && <span class="muted"> · since {formatAge(a.sinceMs, nowMs)}</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function Metrics({ title, values }: { readonly title: string; readonly values: Readonly<Record<string, number>> }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return null;
  return (
    <div class="metrics">
      <h4>{title}</h4>
      <dl>
        {entries.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{formatMetric(v)}</dd>
          </div>
        ))}
      </dl>
    </div>
  );
}

export function StrategyPanel({
  strategies,
  nowMs,
}: {
  readonly strategies: readonly StrategyView[];
  readonly nowMs: number;
}) {
  // The feed-in limit has its own card but is no strategy: "Deciding" names the strategies only.
  const active = strategies.filter((s) => s.isActive && !s.isFeedInLimit);
  return (
    <section class="card" data-testid="strategies">
      <h2>Strategy</h2>
      <p data-testid="active-strategies">
        {active.length === 0
          ? 'No strategy is deciding right now.'
          : `Deciding: ${active.map((s) => s.strategy).join(', ')}`}
      </p>
      {strategies.map((s) => (
        <div
          key={s.strategy}
          class={`strategy ${s.isActive ? 'active' : 'inactive'}`}
          data-testid={`strategy-${s.strategy}`}
          data-active={String(s.isActive)}
          data-configured={String(s.isConfigured)}
        >
          <h3>
            {s.strategy}
            {s.isConfigured && <span class="tag">configured</span>}
            {s.isFeedInLimit && <span class="tag">feed-in limit</span>}
            {!s.isActive && (
              <span class="tag tag-muted">
                {s.atMs === null ? 'no decision yet' : `last ${formatAge(s.atMs, nowMs)}`}
              </span>
            )}
          </h3>
          {s.reason !== null && (
            <p>
              reason <code data-testid={`strategy-reason-${s.strategy}`}>{s.reason}</code>
            </p>
          )}
          <div class="metrics-row">
            <Metrics title="inputs" values={s.inputs} />
            <Metrics title="outputs" values={s.outputs} />
            <Metrics title="terms" values={s.terms} />
          </div>
        </div>
      ))}
    </section>
  );
}

function DecisionRow({ d }: { readonly d: ArbiterDecision }) {
  return (
    <tr class={`decision decision-${d.outcome}`} data-intent={d.intentId ?? ''}>
      <td>{formatClock(d.atMs)}</td>
      <td>{d.assetId}</td>
      <td>{d.source ?? 'arbiter'}</td>
      <td>
        <span class={`outcome outcome-${d.outcome}`}>{d.outcome}</span>
      </td>
      <td>{formatSetpoint(d.requested)}</td>
      <td>{formatSetpoint(d.applied)}</td>
      <td class="why">
        {d.violations.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          d.violations.map((v, i) => <div key={i}>{formatViolation(v)}</div>)
        )}
        {d.reason && <div class="muted">{d.reason}</div>}
      </td>
    </tr>
  );
}

export function DecisionsTable({
  decisions,
  limit,
}: {
  readonly decisions: readonly ArbiterDecision[];
  readonly limit?: number;
}) {
  const [onlyClipped, setOnlyClipped] = useState(false);
  const shown = decisions
    .filter((d) => !onlyClipped || d.violations.length > 0 || d.outcome === 'rejected')
    .slice(0, limit ?? decisions.length);
  return (
    <section class="card" data-testid="decisions">
      <h2>
        Arbiter decisions
        <label class="filter">
          <input
            type="checkbox"
            checked={onlyClipped}
            onChange={(e) => setOnlyClipped((e.target as HTMLInputElement).checked)}
          />{' '}
          only clipped or refused
        </label>
      </h2>
      <table class="table">
        <thead>
          <tr>
            <th>time</th>
            <th>asset</th>
            <th>source</th>
            <th>outcome</th>
            <th>requested</th>
            <th>applied</th>
            <th>what clipped it, and why</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((d, i) => (
            <DecisionRow key={`${d.atMs}-${d.assetId}-${i}`} d={d} />
          ))}
        </tbody>
      </table>
      {shown.length === 0 && <p class="muted">No decisions yet.</p>}
    </section>
  );
}

export function DevicesPanel({ snapshot }: { readonly snapshot: DashboardSnapshot }) {
  const nowMs = snapshot.atMs;
  return (
    <>
      <section class="card" data-testid="devices">
        <h2>Devices</h2>
        <table class="table">
          <thead>
            <tr>
              <th>asset</th>
              <th>kind</th>
              <th>health</th>
              <th>last reading</th>
              <th>power</th>
              <th>SoC</th>
              <th>driver</th>
              <th>breaker</th>
              <th>last decision</th>
            </tr>
          </thead>
          <tbody>
            {snapshot.devices.map((d) => (
              <tr key={d.assetId} data-testid={`device-${d.assetId}`} data-health={d.health}>
                <td>
                  {d.name}
                  <div class="muted">{d.assetId}</div>
                </td>
                <td>
                  {d.kind}
                  {d.isEnabled ? '' : ' (disabled)'}
                </td>
                <td>
                  <span class={`health health-${d.health}`}>{d.health}</span>
                  {d.error && <div class="muted">{d.error}</div>}
                </td>
                <td>{formatAge(d.lastReadingAtMs, nowMs)}</td>
                <td>{formatPower(d.powerW)}</td>
                <td>{formatPct(d.socPct)}</td>
                <td>{d.driver === null ? '—' : `${d.driver.service} (${d.driver.status})`}</td>
                <td>
                  {d.breaker === null
                    ? '—'
                    : (['closed', 'half-open', 'open', 'isolated'][d.breaker] ?? String(d.breaker))}
                </td>
                <td>
                  {d.lastDecision === null
                    ? '—'
                    : `${d.lastDecision.outcome}, ${formatAge(d.lastDecision.atMs, nowMs)}`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="card" data-testid="services">
        <h2>Services</h2>
        <table class="table">
          <thead>
            <tr>
              <th>service</th>
              <th>status</th>
              <th>instances</th>
              <th>last heartbeat</th>
              <th>version</th>
              <th>detail</th>
            </tr>
          </thead>
          <tbody>
            {snapshot.services.map((s) => (
              <tr key={s.service} data-testid={`service-${s.service}`} data-status={s.status}>
                <td>{s.service}</td>
                <td>
                  <span class={`health health-${s.status}`}>{s.status}</span>
                </td>
                <td>{s.instances}</td>
                <td>{formatAge(s.lastSeenAtMs, nowMs)}</td>
                <td>{s.version}</td>
                <td>{s.detail ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </>
  );
}

const KIND_LABEL: Readonly<Record<Setpoint['kind'], string>> = {
  'battery-power': 'battery power (W, + discharge / − charge)',
  'ev-current': 'EV current (A per phase)',
  'pv-limit': 'PV limit (W)',
  safe: 'safe setpoint (hand back to the device)',
};

function setpointOf(kind: Setpoint['kind'], value: number): Setpoint {
  switch (kind) {
    case 'battery-power':
      return { kind, powerW: value };
    case 'ev-current':
      return { kind, currentA: value };
    case 'pv-limit':
      return { kind, maxPowerW: value };
    case 'safe':
      return { kind };
  }
}

/** The manual setpoint form: a manual intent, answered by the safety-arbiter with its decision. */
export function ControlPanel({
  assets,
  actions,
}: {
  readonly assets: readonly ControllableAsset[];
  readonly actions: readonly ActionRecord[];
}) {
  const [assetId, setAssetId] = useState(assets[0]?.assetId ?? '');
  const asset = assets.find((a) => a.assetId === assetId) ?? assets[0];
  const [kind, setKind] = useState<Setpoint['kind']>(asset?.setpoints[0] ?? 'safe');
  const [value, setValue] = useState('0');
  const [minutes, setMinutes] = useState('5');
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ readonly decision?: ArbiterDecision; readonly error?: string } | undefined>(
    undefined,
  );
  const kinds = asset?.setpoints ?? [];
  const effectiveKind = kinds.includes(kind) ? kind : (kinds[0] ?? 'safe');

  const submit = async (event: Event) => {
    event.preventDefault();
    if (asset === undefined) return;
    setBusy(true);
    setResult(undefined);
    const response = await sendIntent({
      assetId: asset.assetId,
      setpoint: setpointOf(effectiveKind, Number(value)),
      ttlMs: Math.round(Number(minutes) * 60_000),
      reason: reason.trim() || 'manual setpoint',
    });
    setBusy(false);
    setResult(
      response.ok
        ? { decision: response.value.decision }
        : { error: response.failure.detail ?? response.failure.error },
    );
  };

  return (
    <>
      <section class="card">
        <h2>Manual setpoint</h2>
        <p class="muted">
          Sent as a manual intent, like <code>voltimax</code> and the cloud do. The safety-arbiter decides what is
          written: it clamps or refuses by the site's limits, and a manual intent outranks the strategies until it
          expires.
        </p>
        {assets.length === 0 ? (
          <p>No controllable asset is configured.</p>
        ) : (
          <form class="form" onSubmit={(e) => void submit(e)}>
            <label>
              asset
              <select
                data-testid="setpoint-asset"
                value={asset?.assetId}
                onChange={(e) => setAssetId((e.target as HTMLSelectElement).value)}
              >
                {assets.map((a) => (
                  <option key={a.assetId} value={a.assetId}>
                    {a.name} ({a.assetId})
                  </option>
                ))}
              </select>
            </label>
            <label>
              setpoint
              <select
                data-testid="setpoint-kind"
                value={effectiveKind}
                onChange={(e) => setKind((e.target as HTMLSelectElement).value as Setpoint['kind'])}
              >
                {kinds.map((k) => (
                  <option key={k} value={k}>
                    {KIND_LABEL[k]}
                  </option>
                ))}
              </select>
            </label>
            {effectiveKind !== 'safe' && (
              <label>
                value
                <input
                  data-testid="setpoint-value"
                  type="number"
                  step="any"
                  required
                  value={value}
                  onInput={(e) => setValue((e.target as HTMLInputElement).value)}
                />
              </label>
            )}
            <label>
              for (minutes)
              <input
                data-testid="setpoint-minutes"
                type="number"
                min="1"
                max="1440"
                step="1"
                required
                value={minutes}
                onInput={(e) => setMinutes((e.target as HTMLInputElement).value)}
              />
            </label>
            <label class="wide">
              reason (kept in the audit)
              <input
                data-testid="setpoint-reason"
                type="text"
                maxLength={200}
                value={reason}
                onInput={(e) => setReason((e.target as HTMLInputElement).value)}
              />
            </label>
            <button data-testid="setpoint-submit" type="submit" disabled={busy}>
              {busy ? 'Waiting for the arbiter…' : 'Send to the safety-arbiter'}
            </button>
          </form>
        )}
        {result !== undefined && (
          <div
            class="result"
            data-testid="setpoint-result"
            data-outcome={result.decision?.outcome ?? 'error'}
            data-intent={result.decision?.intentId ?? ''}
          >
            {result.decision ? (
              <>
                <strong>
                  {result.decision.outcome}: {formatSetpoint(result.decision.requested)} →{' '}
                  {formatSetpoint(result.decision.applied)}
                </strong>
                {result.decision.violations.map((v, i) => (
                  <div key={i}>{formatViolation(v)}</div>
                ))}
                {result.decision.reason && <div class="muted">{result.decision.reason}</div>}
              </>
            ) : (
              <strong>Not applied: {result.error}</strong>
            )}
          </div>
        )}
      </section>
      <section class="card" data-testid="actions">
        <h2>Actions from this dashboard</h2>
        {actions.length === 0 ? (
          <p class="muted">None yet.</p>
        ) : (
          <ul class="actions">
            {actions.map((a) => (
              <li key={a.id}>
                {formatClock(a.atMs)} · {a.summary} · {a.by} ·{' '}
                <strong>{a.status === 'decided' && a.decision ? a.decision.outcome : a.status}</strong>
                {a.error && <span class="muted"> ({a.error})</span>}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
