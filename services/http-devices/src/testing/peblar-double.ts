// A Peblar REST API double on a real socket (node:http): /evinterface (GET, PATCH), /meter, /system, without token
// checks. Its GETs of /evinterface can be made slow, to let a write's expiry pass between the read and the PATCH.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PeblarDouble {
  readonly url: string;
  limitMa: number;
  /** Delay of every GET /evinterface, ms (0 = at once). */
  slowGetMs: number;
  /** Each PATCH body with the time (epoch ms) it arrived. */
  readonly patches: { readonly atMs: number; readonly body: string }[];
  close(): Promise<void>;
}

export async function startPeblarDouble(): Promise<PeblarDouble> {
  const state = { limitMa: 16_000, slowGetMs: 0, patches: [] as { atMs: number; body: string }[] };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const json = (value: unknown) =>
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(value));
      switch (`${req.method ?? ''} ${req.url ?? ''}`) {
        case 'PATCH /api/wlac/v1/evinterface': {
          state.patches.push({ atMs: Date.now(), body });
          const patch = JSON.parse(body) as { ChargeCurrentLimit?: number };
          if (patch.ChargeCurrentLimit !== undefined) state.limitMa = patch.ChargeCurrentLimit;
          json({});
          return;
        }
        case 'GET /api/wlac/v1/evinterface': {
          const answer = {
            CpState: 'State C',
            ChargeCurrentLimit: state.limitMa,
            ChargeCurrentLimitActual: state.limitMa,
            ChargeCurrentLimitSource: 'Local REST API',
            Force1Phase: false,
          };
          if (state.slowGetMs > 0) setTimeout(() => json(answer), state.slowGetMs);
          else json(answer);
          return;
        }
        case 'GET /api/wlac/v1/meter':
          json({ PowerTotal: 0, PowerPhase1: 0, CurrentPhase1: 0, EnergyTotal: 1_000, EnergySession: 0 });
          return;
        case 'GET /api/wlac/v1/system':
          json({ PhaseCount: 3 });
          return;
        default:
          res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get limitMa() {
      return state.limitMa;
    },
    set limitMa(ma: number) {
      state.limitMa = ma;
    },
    get slowGetMs() {
      return state.slowGetMs;
    },
    set slowGetMs(ms: number) {
      state.slowGetMs = ms;
    },
    patches: state.patches,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
