// The page: login, then the live dashboard (overview, decisions, history, devices, control) with the e-stop always on top.
import { useEffect, useState } from 'preact/hooks';
import { checkSession, login, logout, openEvents, sendEstop } from './api';
import { HistoryChart } from './chart';
import { PowerFlowView } from './flow';
import { formatAge, formatClock } from './format';
import { AlarmsPanel, ControlPanel, DecisionsTable, DevicesPanel, StrategyPanel } from './panels';
import type { DashboardSnapshot, EstopView } from './types';

const PAGES = ['overview', 'decisions', 'history', 'devices', 'control'] as const;
type Page = (typeof PAGES)[number];

function pageOfHash(): Page {
  const name = window.location.hash.replace(/^#\/?/, '');
  return (PAGES as readonly string[]).includes(name) ? (name as Page) : 'overview';
}

function Login({ onLoggedIn }: { readonly onLoggedIn: () => void }) {
  const [password, setPassword] = useState('');
  const [message, setMessage] = useState<string | undefined>(undefined);
  const [attempts, setAttempts] = useState(0);
  const [busy, setBusy] = useState(false);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    const result = await login(password);
    setBusy(false);
    setPassword('');
    setAttempts((n) => n + 1);
    if (result.ok) {
      onLoggedIn();
      return;
    }
    const f = result.failure;
    const minutes = Math.max(1, Math.ceil((f.retryAfterMs ?? 0) / 60_000));
    setMessage(
      f.error === 'wrong-password'
        ? `Wrong password.${f.remainingAttempts !== undefined ? ` ${f.remainingAttempts} attempt(s) left before a lockout.` : ''}`
        : f.error === 'locked'
          ? `Too many wrong passwords: locked out. Try again in ${minutes} min.`
          : f.error === 'rate-limited'
            ? `Too many login attempts. Try again in ${minutes} min.`
            : f.error === 'no-password'
              ? "No dashboard password is set. Set one on the gateway with 'voltimax dashboard set-password'."
              : `Login failed (${f.error}).`,
    );
  };

  return (
    <main class="login">
      <form class="card login-card" onSubmit={(e) => void submit(e)}>
        <h1>Voltimax gateway</h1>
        <label>
          Password
          <input
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            autoFocus
            required
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        <button data-testid="login-submit" type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
        {message !== undefined && (
          <p class="login-error" data-testid="login-error" data-attempt={String(attempts)} role="alert">
            {message}
          </p>
        )}
      </form>
    </main>
  );
}

function EstopDialog({ estop, onClose }: { readonly estop: EstopView; readonly onClose: () => void }) {
  const engage = estop.state === 'released';
  const [reason, setReason] = useState(engage ? 'emergency stop from the dashboard' : '');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    const result = await sendEstop(
      engage ? 'engage' : 'release',
      reason.trim() || (engage ? 'emergency stop' : 'released'),
    );
    setBusy(false);
    if (result.ok) onClose();
    else setError(result.failure.detail ?? result.failure.error);
  };
  return (
    <div class="modal-backdrop">
      <div class="card modal" role="dialog" aria-modal="true" aria-label="emergency stop">
        <form class="modal-form" onSubmit={(e) => void submit(e)}>
          <h2>{engage ? 'Engage the emergency stop?' : 'Release the emergency stop?'}</h2>
          <p>
            {engage
              ? 'The safety-arbiter puts every controllable asset at its safe setpoint and holds it there until the stop is released.'
              : 'The safety-arbiter resumes normal arbitration. Make sure the cause has been dealt with.'}
          </p>
          <label>
            Reason (kept in the audit)
            <input
              data-testid="estop-reason"
              type="text"
              required
              maxLength={200}
              value={reason}
              onInput={(e) => setReason((e.target as HTMLInputElement).value)}
            />
          </label>
          {error !== undefined && <p class="login-error">{error}</p>}
          <div class="modal-buttons">
            <button type="button" class="secondary" onClick={onClose}>
              Cancel
            </button>
            <button data-testid="estop-confirm" type="submit" class={engage ? 'danger' : ''} disabled={busy}>
              {engage ? 'Engage e-stop' : 'Release e-stop'}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}

function EstopBanner({ estop, nowMs }: { readonly estop: EstopView; readonly nowMs: number }) {
  if (estop.state === 'released') return null;
  return (
    <div class={`estop-banner estop-${estop.state}`} data-testid="estop-banner" role="alert">
      {estop.state === 'engaged'
        ? 'EMERGENCY STOP ENGAGED'
        : 'EMERGENCY STOP REQUESTED — waiting for the safety-arbiter'}
      {estop.last && (
        <span>
          {' '}
          · {estop.last.action === 'engage' ? 'engaged' : 'released'} at {formatClock(estop.last.atMs)} (
          {formatAge(estop.last.atMs, nowMs)}) by {estop.last.by}: {estop.last.reason}
        </span>
      )}
      {estop.isConfirmedByArbiter && (
        <span data-testid="estop-confirmed">
          {' '}
          · confirmed by the safety-arbiter
          {estop.safeAssets.length > 0 ? `: ${estop.safeAssets.join(', ')} at the safe setpoint` : ''}
        </span>
      )}
    </div>
  );
}

function Dashboard({ onLoggedOut }: { readonly onLoggedOut: () => void }) {
  const [snapshot, setSnapshot] = useState<DashboardSnapshot | undefined>(undefined);
  const [isStreaming, setStreaming] = useState(false);
  const [page, setPage] = useState<Page>(pageOfHash());
  const [showEstop, setShowEstop] = useState(false);

  useEffect(() => openEvents({ onSnapshot: setSnapshot, onConnected: setStreaming, onSessionLost: onLoggedOut }), []);
  useEffect(() => {
    const onHash = () => setPage(pageOfHash());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  if (snapshot === undefined) return <main class="loading">Connecting to the gateway…</main>;
  const nowMs = snapshot.atMs;
  const critical = snapshot.alarms.filter((a) => a.severity === 'critical').length;
  return (
    <>
      <header class="top">
        <div class="site">
          <strong>{snapshot.site?.siteName ?? 'Voltimax gateway'}</strong>
          <span class="muted"> {snapshot.site?.gatewayId ?? ''}</span>
        </div>
        <div
          class={`link ${isStreaming && snapshot.isBusConnected ? 'link-ok' : 'link-down'}`}
          data-testid="link"
          data-at={String(snapshot.atMs)}
          data-streaming={String(isStreaming)}
          data-bus={String(snapshot.isBusConnected)}
        >
          {isStreaming ? (snapshot.isBusConnected ? 'live' : 'bus down') : 'reconnecting…'} ·{' '}
          {formatClock(snapshot.atMs)}
        </div>
        <div class="estop-state" data-testid="estop-state" data-state={snapshot.estop.state}>
          e-stop: {snapshot.estop.state}
        </div>
        <button
          data-testid="estop-button"
          class={snapshot.estop.state === 'released' ? 'estop-button' : 'estop-button release'}
          onClick={() => setShowEstop(true)}
        >
          {snapshot.estop.state === 'released' ? 'EMERGENCY STOP' : 'Release e-stop'}
        </button>
        <button class="secondary" data-testid="logout" onClick={() => void logout().then(onLoggedOut)}>
          Log out
        </button>
      </header>
      <EstopBanner estop={snapshot.estop} nowMs={nowMs} />
      <nav class="tabs">
        {PAGES.map((p) => (
          <a key={p} href={`#/${p}`} class={p === page ? 'tab current' : 'tab'} data-testid={`tab-${p}`}>
            {p}
            {p === 'overview' && critical > 0 ? ` (${critical} critical)` : ''}
          </a>
        ))}
      </nav>
      <main class="page" data-page={page}>
        {page === 'overview' && (
          <div class="grid">
            <PowerFlowView flow={snapshot.flow} />
            <AlarmsPanel alarms={snapshot.alarms} nowMs={nowMs} />
            <StrategyPanel strategies={snapshot.strategies} nowMs={nowMs} />
            <DecisionsTable decisions={snapshot.decisions} limit={8} />
          </div>
        )}
        {page === 'decisions' && <DecisionsTable decisions={snapshot.decisions} />}
        {page === 'history' && <HistoryChart />}
        {page === 'devices' && <DevicesPanel snapshot={snapshot} />}
        {page === 'control' && <ControlPanel assets={snapshot.controllable} actions={snapshot.actions} />}
      </main>
      {showEstop && <EstopDialog estop={snapshot.estop} onClose={() => setShowEstop(false)} />}
    </>
  );
}

export function App() {
  const [phase, setPhase] = useState<'checking' | 'login' | 'in'>('checking');
  useEffect(() => {
    void checkSession().then((ok) => setPhase(ok ? 'in' : 'login'));
  }, []);
  if (phase === 'checking') return <main class="loading">Loading…</main>;
  if (phase === 'login') return <Login onLoggedIn={() => setPhase('in')} />;
  return <Dashboard onLoggedOut={() => setPhase('login')} />;
}
