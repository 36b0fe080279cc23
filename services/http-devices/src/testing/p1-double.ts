// A HomeWizard P1 meter double on a real socket (node:http): GET /api/v1/data answers the documented body, or a
// fault the test chooses — so the driver's fault handling is exercised over a real connection.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the double answers. */
export type P1Mode = 'ok' | 'not-json' | 'wrong-type' | 'status-500' | 'hang' | 'html-200';

/** A P1 body as a 3-phase SMR 5 meter sends it (homewizard-p1.md). */
export function p1Body(activePowerW: number): Record<string, unknown> {
  return {
    wifi_ssid: 'home',
    wifi_strength: 100,
    smr_version: 50,
    meter_model: 'ISKRA 2M550T-1012',
    active_tariff: 2,
    total_power_import_kwh: 13_779.338,
    total_power_export_kwh: 2_892.917,
    active_power_w: activePowerW,
    active_power_l1_w: -676,
    active_power_l2_w: 133,
    active_power_l3_w: 0,
    active_voltage_l1_v: 231,
    active_voltage_l2_v: 229.8,
    active_voltage_l3_v: 230.4,
    active_current_l1_a: 2.94,
    active_current_l2_a: 0.58,
    active_current_l3_a: 0,
    active_frequency_hz: 50.02,
  };
}

export interface P1Double {
  readonly url: string;
  mode: P1Mode;
  powerW: number;
  requests: number;
  close(): Promise<void>;
}

export async function startP1Double(): Promise<P1Double> {
  const hanging = new Set<ServerResponse>();
  const state = { mode: 'ok' as P1Mode, powerW: -543, requests: 0 };
  const server = createServer((req, res) => {
    state.requests += 1;
    if (req.url !== '/api/v1/data') {
      res.writeHead(404).end();
      return;
    }
    const json = (status: number, text: string, type = 'application/json') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) }).end(text);
    };
    switch (state.mode) {
      case 'ok':
        return json(200, JSON.stringify(p1Body(state.powerW)));
      case 'not-json':
        return json(200, '{"active_power_w": -543, "total_power_import_kwh": ');
      case 'html-200':
        return json(200, '<html><body>Loading…</body></html>', 'text/html');
      case 'wrong-type':
        return json(
          200,
          JSON.stringify({ ...p1Body(state.powerW), active_power_w: String(state.powerW), active_voltage_l1_v: true }),
        );
      case 'status-500':
        return json(500, '{"error":{"id":1,"description":"internal error"}}');
      case 'hang':
        hanging.add(res);
        return;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(mode: P1Mode) {
      state.mode = mode;
    },
    get powerW() {
      return state.powerW;
    },
    set powerW(w: number) {
      state.powerW = w;
    },
    get requests() {
      return state.requests;
    },
    set requests(n: number) {
      state.requests = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
