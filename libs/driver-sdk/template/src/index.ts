// @voltimax/driver-my-protocol: a driver-host plugin, made from libs/driver-sdk/template. Replace "my-protocol"
// everywhere, then the device talk below (here: a battery with a small JSON-over-HTTP API, as a stand-in) with your
// protocol. libs/driver-sdk/README.md, "Writing a driver", has the rules; libs/driver-example-keba a complete driver.
import type { Setpoint } from '@voltimax/contracts';
import { defineDriver, type DriverAsset, type DriverSample, type WriteOutcome } from '@voltimax/driver-sdk';
import { z } from 'zod';

/** Per asset (`assets[].connection.options` in assets.json): where the device is and how to talk to it. */
export const MyProtocolAssetOptions = z.strictObject({
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** One request, ms (the host also cuts a call at READ_TIMEOUT_MS / WRITE_TIMEOUT_MS and aborts its signal). */
  timeoutMs: z.number().int().min(50).max(30_000).default(2_000),
});
export type MyProtocolAssetOptions = z.output<typeof MyProtocolAssetOptions>;

/** Per driver (`drivers[].options`): settings shared by all its assets. */
export const MyProtocolHostOptions = z.strictObject({
  /** Sent as User-Agent; an example of a host-wide option. */
  userAgent: z.string().min(1).max(100).default('voltimax-driver-my-protocol'),
});
export type MyProtocolHostOptions = z.output<typeof MyProtocolHostOptions>;

/** What the device answers on GET /status; validated like any input from outside. */
/** Device kW (+ = charging) → gateway W (+ = discharging); `|| 0` so that 0 kW is 0 W, not -0. */
const toGatewayW = (deviceKw: number): number => -deviceKw * 1_000 || 0;

const DeviceStatus = z.object({
  /** kW, + = charging (the device's sign; ours is + = discharging). */
  power_kw: z.number().finite(),
  soc: z.number().min(0).max(100),
  /** The set-point it runs, kW, device sign. */
  setpoint_kw: z.number().finite(),
});

export const driver = defineDriver<MyProtocolAssetOptions, MyProtocolHostOptions>({
  name: 'my-protocol',
  version: '0.1.0',
  // The set-point kinds it can write; `safe` comes on top (write it as the device's own safe state).
  setpoints: ['battery-power'],
  assetOptions: MyProtocolAssetOptions,
  hostOptions: MyProtocolHostOptions,

  async start(context, assets) {
    // Open connections here; throwing makes every asset's readings `error` and the host retries with backoff.
    let requests = 0;
    let failures = 0;
    context.log.info({ assets: assets.map((a) => a.id) }, 'my-protocol started');

    async function request(
      asset: DriverAsset<MyProtocolAssetOptions>,
      path: string,
      signal: AbortSignal,
      body?: unknown,
    ): Promise<unknown> {
      requests += 1;
      try {
        const response = await fetch(new URL(path, asset.options.baseUrl), {
          method: body === undefined ? 'GET' : 'PUT',
          headers: {
            'user-agent': context.options.userAgent,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          // Stop when the host gives up (its timeout, or shutdown) or after our own timeout, whichever comes first.
          signal: AbortSignal.any([signal, AbortSignal.timeout(asset.options.timeoutMs)]),
        });
        if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
        return response.status === 204 ? undefined : await response.json();
      } catch (err) {
        failures += 1;
        throw err;
      }
    }

    async function status(asset: DriverAsset<MyProtocolAssetOptions>, signal: AbortSignal) {
      const parsed = DeviceStatus.safeParse(await request(asset, '/status', signal));
      if (!parsed.success)
        throw new Error(`/status: unexpected answer (${parsed.error.issues[0]?.message ?? 'invalid'})`);
      return parsed.data;
    }

    return {
      async read(asset, signal): Promise<DriverSample> {
        const device = await status(asset, signal);
        // Units and signs of the gateway: W, battery + = discharging. Time from context.now(), never Date.now().
        return {
          values: {
            powerW: toGatewayW(device.power_kw),
            socPct: device.soc,
            setpointW: toGatewayW(device.setpoint_kw),
          },
          atMs: context.now(),
        };
      },

      // Called only for the arbiter's device.<assetId>.write (and the host's watchdog `safe`): never write on your own.
      async write(asset, setpoint: Setpoint, signal): Promise<WriteOutcome> {
        const powerW = setpoint.kind === 'safe' ? 0 : setpoint.kind === 'battery-power' ? setpoint.powerW : undefined;
        if (powerW === undefined) return { status: 'rejected', error: `my-protocol cannot write '${setpoint.kind}'` };
        await request(asset, '/setpoint', signal, { setpoint_kw: -powerW / 1_000 || 0 });
        // Read it back: the WriteResult carries what the device really holds.
        const readBackW = toGatewayW((await status(asset, signal)).setpoint_kw);
        return readBackW === powerW
          ? { status: 'applied', readBack: readBackW }
          : { status: 'mismatch', readBack: readBackW, error: `sent ${powerW} W, the device holds ${readBackW} W` };
      },

      health: () => ({
        state: failures > 0 && failures === requests ? 'down' : 'ok',
        counters: { requests, failures },
      }),

      async close() {
        // Close sockets, clear timers.
      },
    };
  },
});
