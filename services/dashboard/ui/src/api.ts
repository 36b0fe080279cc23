// The dashboard's HTTP API as the page uses it: same origin, session cookie, CSRF token in a header on POSTs.
import type {
  ArbiterDecision,
  ControlIntent,
  DashboardSnapshot,
  EmergencyStop,
  HistorySeries,
  Setpoint,
} from './types';

let csrfToken = '';

/** A failed call: the server's error code and extra fields. */
export interface ApiError {
  readonly status: number;
  readonly error: string;
  readonly detail?: string;
  readonly retryAfterMs?: number;
  readonly remainingAttempts?: number;
}

type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: ApiError };

async function call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Result<T>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: method === 'POST' ? { 'content-type': 'application/json', 'x-csrf-token': csrfToken } : {},
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    return {
      ok: false,
      failure: { status: 0, error: 'network', detail: err instanceof Error ? err.message : String(err) },
    };
  }
  const text = await response.text();
  let json: unknown = undefined;
  try {
    json = text === '' ? undefined : (JSON.parse(text) as unknown);
  } catch {
    json = undefined;
  }
  if (response.ok) return { ok: true, value: json as T };
  const fields = (typeof json === 'object' && json !== null ? json : {}) as Partial<ApiError>;
  return {
    ok: false,
    failure: { ...fields, status: response.status, error: fields.error ?? `http-${response.status}` },
  };
}

/** Whether the browser has a session; remembers its CSRF token. */
export async function checkSession(): Promise<boolean> {
  const result = await call<{ authenticated: boolean; csrfToken?: string }>('GET', '/api/session');
  if (result.ok && result.value.csrfToken) csrfToken = result.value.csrfToken;
  return result.ok && result.value.authenticated;
}

export async function login(password: string): Promise<Result<{ csrfToken: string }>> {
  const result = await call<{ csrfToken: string }>('POST', '/api/login', { password });
  if (result.ok) csrfToken = result.value.csrfToken;
  return result;
}

export async function logout(): Promise<void> {
  await call('POST', '/api/logout');
  csrfToken = '';
}

export function getHistory(): Promise<Result<HistorySeries>> {
  return call<HistorySeries>('GET', '/api/history');
}

export function sendEstop(action: 'engage' | 'release', reason: string): Promise<Result<{ published: EmergencyStop }>> {
  return call('POST', '/api/estop', { action, reason });
}

export function sendIntent(body: {
  assetId: string;
  setpoint: Setpoint;
  ttlMs: number;
  reason: string;
}): Promise<Result<{ intent: ControlIntent; decision: ArbiterDecision }>> {
  return call('POST', '/api/intent', body);
}

/** The live stream: a snapshot per update. Returns a function that closes it. */
export function openEvents(handlers: {
  readonly onSnapshot: (snapshot: DashboardSnapshot) => void;
  readonly onConnected: (isConnected: boolean) => void;
  /** The session ended (expired, logged out, or the stream was refused). */
  readonly onSessionLost: () => void;
}): () => void {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => handlers.onConnected(true));
  source.addEventListener('snapshot', (event) => {
    try {
      handlers.onSnapshot(JSON.parse((event as MessageEvent<string>).data) as DashboardSnapshot);
    } catch {
      // A broken event is skipped; the next one follows within a second.
    }
  });
  source.addEventListener('session-expired', () => {
    source.close();
    handlers.onSessionLost();
  });
  source.addEventListener('error', () => {
    handlers.onConnected(false);
    // The browser retries by itself unless the server refused the stream (401): then the session is gone.
    if (source.readyState === EventSource.CLOSED) {
      void checkSession().then((ok) => (ok ? undefined : handlers.onSessionLost()));
    }
  });
  return () => source.close();
}
