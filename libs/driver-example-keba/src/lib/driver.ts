import type { Setpoint } from '@voltimax/contracts';
import { defineDriver, type DriverAsset, type DriverSample, type WriteOutcome } from '@voltimax/driver-sdk';
import { z } from 'zod';
import {
  KEBA_PORT,
  REPEAT_PAUSE_MS,
  chargerState,
  commandedCurrentMa,
  currentCommand,
  currtime,
  measurements,
  type ReportFields,
} from './protocol';
import { StationLink, type Station } from './station';

/** Per asset (`connection.options`): where the station is. */
export const KebaAssetOptions = z.strictObject({
  /** The station's IPv4 address (the guide asks for direct addressing, never broadcasts). */
  host: z.ipv4(),
  port: z.number().int().min(1).max(65_535).default(KEBA_PORT),
  /** Reports 2 and 3 are fetched at most this often (the guide's t_COM_pause: ≥ 5 s); polls in between reuse them. */
  reportIntervalMs: z.number().int().min(REPEAT_PAUSE_MS).max(3_600_000).default(REPEAT_PAUSE_MS),
  /** How long one command waits for its answer, ms. */
  replyTimeoutMs: z.number().int().min(50).max(10_000).default(1_000),
});
export type KebaAssetOptions = z.output<typeof KebaAssetOptions>;

/** Per driver (`drivers[].options`): the local socket. The station answers to port 7090 of the sender. */
export const KebaHostOptions = z.strictObject({
  bindAddress: z.ipv4().default('0.0.0.0'),
  /** 7090 on a site; 0 (any) only with a station that answers the sender's port, such as the test double. */
  localPort: z.number().int().min(0).max(65_535).default(KEBA_PORT),
});
export type KebaHostOptions = z.output<typeof KebaHostOptions>;

export const KEBA_DRIVER_VERSION = '0.1.0';

/**
 * KEBA KeContact P30 (c- and x-series) over its UDP protocol: an EV charger. Polls `report 2` and `report 3` (at most
 * every reportIntervalMs) into measurements and the connector state, pushes the station's status messages as they
 * come, and writes `ev-current` as `currtime <mA> 1`, read back from report 2. `safe` stops charging (0 A).
 */
export const kebaDriver = defineDriver<KebaAssetOptions, KebaHostOptions>({
  name: 'keba-udp',
  version: KEBA_DRIVER_VERSION,
  setpoints: ['ev-current'],
  assetOptions: KebaAssetOptions,
  hostOptions: KebaHostOptions,
  async start(context, assets) {
    const byStation = new Map<Station, DriverAsset<KebaAssetOptions>>();
    const sample = (station: Station, atMs: number): DriverSample => {
      const state = chargerState(station.fields);
      return { values: measurements(station.fields), atMs, ...(state === undefined ? {} : { chargerState: state }) };
    };
    const link = await StationLink.open({
      bindAddress: context.options.bindAddress,
      localPort: context.options.localPort,
      now: context.now,
      // Status messages ("Max curr", "State", "Plug", "E pres" …) arrive on changes: a push makes them visible at once.
      onStatus: (station) => {
        const asset = byStation.get(station);
        if (asset !== undefined && station.fieldsAtMs > 0) context.push(asset.id, sample(station, station.fieldsAtMs));
      },
      onError: (err) => context.log.warn({ err }, 'socket error'),
    });
    for (const asset of assets) byStation.set(link.station(asset.options.host, asset.options.port), asset);
    context.log.info(
      { localPort: link.localPort, stations: assets.map((a) => `${a.options.host}:${a.options.port}`) },
      'keba link open',
    );

    const stationOf = (asset: DriverAsset<KebaAssetOptions>): Station =>
      link.station(asset.options.host, asset.options.port);

    async function fetchReports(
      station: Station,
      asset: DriverAsset<KebaAssetOptions>,
      signal: AbortSignal,
    ): Promise<ReportFields> {
      const report2 = await station.command('report 2', { report: 2 }, asset.options.replyTimeoutMs, signal);
      await station.command('report 3', { report: 3 }, asset.options.replyTimeoutMs, signal);
      return report2.kind === 'report' ? report2.fields : {};
    }

    return {
      async read(asset, signal) {
        const station = stationOf(asset);
        const nowMs = context.now();
        if (nowMs - station.polledAtMs >= asset.options.reportIntervalMs) {
          await fetchReports(station, asset, signal);
          station.polledAtMs = nowMs;
        }
        // Between report fetches the values keep the time they were measured: the host sees how old they are.
        return sample(station, station.fieldsAtMs);
      },

      async write(asset, setpoint: Setpoint, signal, options): Promise<WriteOutcome> {
        const currentA = setpoint.kind === 'safe' ? 0 : setpoint.kind === 'ev-current' ? setpoint.currentA : undefined;
        if (currentA === undefined) return { status: 'rejected', error: `keba-udp cannot write '${setpoint.kind}'` };
        const command = currentCommand(currentA, setpoint.kind === 'safe' ? undefined : options?.bounds);
        if (!command.ok) return { status: 'rejected', error: command.reason };
        const station = stationOf(asset);
        await station.command(currtime(command.milliAmps), 'ok', asset.options.replyTimeoutMs, signal);
        const report2 = await station.command('report 2', { report: 2 }, asset.options.replyTimeoutMs, signal);
        const readBackMa = report2.kind === 'report' ? commandedCurrentMa(report2.fields) : undefined;
        if (readBackMa === undefined)
          return { status: 'failed', error: 'report 2 after the write lacks "Curr timer"/"Curr user"' };
        const notes =
          setpoint.kind === 'ev-current' && setpoint.phases !== undefined
            ? ['phase switching is not part of the UDP protocol; ignored']
            : [];
        return {
          status: readBackMa === command.milliAmps ? 'applied' : 'mismatch',
          readBack: readBackMa / 1_000,
          ...(readBackMa === command.milliAmps
            ? notes.length > 0
              ? { error: notes.join('; ') }
              : {}
            : { error: `sent ${command.milliAmps} mA, the station reports ${readBackMa} mA` }),
        };
      },

      health() {
        const silent = [...byStation.keys()].filter((s) => !s.answering).map((s) => s.host);
        const { datagrams, malformed, strangers, statusMessages, timeouts, refused } = link.counters;
        return {
          state: silent.length === 0 ? 'ok' : silent.length === byStation.size ? 'down' : 'degraded',
          ...(silent.length === 0 ? {} : { detail: `no answer from ${silent.join(', ')}` }),
          counters: { datagrams, malformed, strangers, statusMessages, timeouts, refused },
        };
      },

      close: () => link.close(),
    };
  },
});
