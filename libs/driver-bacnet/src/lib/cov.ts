// Change-of-value: SubscribeCOV per point (renewed at three quarters of the lifetime, again after the device comes
// back), notifications turned into pushed samples. A point whose subscription the device refuses is simply left to
// the polled reads.
import { ConfirmedServiceChoice, type BACNetAddress } from '@bacnet-js/client';
import type { MeasurementKey } from '@voltimax/contracts';
import type { DriverLog, DriverSample } from '@voltimax/driver-sdk';
import { BacnetErrorResponse, BacnetTimeoutError, isServiceRefusal } from './errors';
import type { AppValue } from './mapping';
import { formatObjectRef } from './object-ref';
import { asMeasurements, pointValue, type Point } from './points';
import { PROP, type DeviceState, type Session } from './session';

/** COV counters for health. */
export interface CovCounters {
  covSubscribes: number;
  covRenewals: number;
  covRefused: number;
  covFailures: number;
  covNotifications: number;
  covDropped: number;
  covFaulty: number;
}

/** One asset's COV wishes. */
export interface CovAsset {
  readonly id: string;
  readonly device: DeviceState;
  readonly points: readonly Point[];
  readonly lifetimeS: number;
  readonly confirmed: boolean;
}

type EntryState = 'pending' | 'active' | 'refused' | 'failed';

interface Entry {
  readonly asset: CovAsset;
  readonly point: Point;
  readonly processId: number;
  state: EntryState;
  timer: NodeJS.Timeout | undefined;
  value: number | undefined;
  busy: boolean;
}

/** The running COV part of a driver. */
export interface Cov {
  readonly counters: Readonly<CovCounters>;
  /** Subscriptions the devices accepted and that are not yet due. */
  activeCount(): number;
  /** Points whose subscription the device refused (left to polling). */
  refusedCount(): number;
  /** Cancels the subscriptions (best effort, bounded) and stops the timers. */
  close(): Promise<void>;
}

/** Options of {@link startCov}. */
export interface CovOptions {
  readonly session: Session;
  readonly log: DriverLog;
  readonly now: () => number;
  readonly push: (assetId: string, sample: DriverSample) => void;
  /** The first process id (unsigned32); ids count up from here. */
  readonly firstProcessId?: number;
}

const NOTIFY_PROPERTIES = { presentValue: PROP.presentValue, statusFlags: PROP.statusFlags };

/** Subscribes every point of `assets` and keeps the subscriptions alive until `close`. */
export function startCov(options: CovOptions, assets: readonly CovAsset[]): Cov {
  const { session, log } = options;
  const client = session.link.client;
  const counters: CovCounters = {
    covSubscribes: 0,
    covRenewals: 0,
    covRefused: 0,
    covFailures: 0,
    covNotifications: 0,
    covDropped: 0,
    covFaulty: 0,
  };
  let nextId = options.firstProcessId ?? 1;
  const entries: Entry[] = assets.flatMap((asset) =>
    asset.points.map(
      (point): Entry => ({
        asset,
        point,
        processId: nextId++,
        state: 'pending',
        timer: undefined,
        value: undefined,
        busy: false,
      }),
    ),
  );
  const byProcess = new Map(entries.map((e) => [e.processId, e]));
  let closed = false;

  const renewEveryMs = (e: Entry) => Math.max(500, e.asset.lifetimeS * 750);

  const schedule = (e: Entry, delayMs: number) => {
    if (closed) return;
    clearTimeout(e.timer);
    e.timer = setTimeout(() => void subscribe(e), delayMs);
    e.timer.unref();
  };

  const subscribe = async (e: Entry): Promise<void> => {
    if (closed || e.busy) return;
    e.busy = true;
    const wasActive = e.state === 'active';
    const object = formatObjectRef(e.point.object);
    try {
      await session.call(e.asset.device, (receiver) =>
        client.subscribeCov(
          receiver,
          { type: e.point.object.type, instance: e.point.object.instance },
          e.processId,
          false,
          e.asset.confirmed,
          e.asset.lifetimeS,
        ),
      );
      counters.covSubscribes += 1;
      if (wasActive) counters.covRenewals += 1;
      else
        log.info({ assetId: e.asset.id, point: e.point.key, object, lifetimeS: e.asset.lifetimeS }, 'cov subscribed');
      e.state = 'active';
      schedule(e, renewEveryMs(e));
    } catch (err) {
      if (isServiceRefusal(err) || err instanceof BacnetErrorResponse) {
        if (e.state !== 'refused') {
          counters.covRefused += 1;
          log.warn({ assetId: e.asset.id, point: e.point.key, object, err }, 'cov refused; the point is polled');
        }
        e.state = 'refused';
        e.value = undefined;
        // a refusal may be for lack of resources: ask again, rarely
        schedule(e, Math.min(3_600_000, renewEveryMs(e) * 4));
      } else {
        counters.covFailures += 1;
        if (!(err instanceof BacnetTimeoutError))
          log.warn({ assetId: e.asset.id, point: e.point.key, object, err }, 'cov subscribe failed');
        e.state = 'failed';
        e.value = undefined;
        schedule(e, renewEveryMs(e));
      }
    } finally {
      e.busy = false;
    }
  };

  const onNotification = (payload: {
    subscriberProcessId: number;
    monitoredObjectId: { type: number; instance: number };
    values: { property: { id: number }; value: AppValue[] }[];
  }): boolean => {
    const e = byProcess.get(payload.subscriberProcessId);
    if (
      e === undefined ||
      e.point.object.type !== payload.monitoredObjectId.type ||
      e.point.object.instance !== payload.monitoredObjectId.instance
    ) {
      counters.covDropped += 1;
      return false;
    }
    counters.covNotifications += 1;
    const pv = payload.values.find((v) => v.property.id === NOTIFY_PROPERTIES.presentValue)?.value;
    const flags = payload.values.find((v) => v.property.id === NOTIFY_PROPERTIES.statusFlags)?.value;
    const decoded = pointValue(e.point, pv, flags);
    if (decoded.ok) e.value = decoded.value;
    else {
      e.value = undefined;
      counters.covFaulty += 1;
      log.warn({ assetId: e.asset.id, problem: decoded.problem }, 'cov notification with an unusable value');
    }
    const values: Partial<Record<MeasurementKey, number>> = {};
    for (const other of entries) {
      if (other.asset.id === e.asset.id && other.state === 'active' && other.value !== undefined)
        values[other.point.key] = other.value;
    }
    if (Object.keys(values).length > 0)
      options.push(e.asset.id, { values: asMeasurements(values), atMs: options.now() });
    return true;
  };

  const unconfirmed = (content: { payload: Parameters<typeof onNotification>[0] }) => {
    onNotification(content.payload);
  };
  const confirmed = (content: {
    header?: { sender?: BACNetAddress };
    invokeId?: number;
    payload: Parameters<typeof onNotification>[0];
  }) => {
    onNotification(content.payload);
    // acknowledge every confirmed notification, even an unknown one, or the device keeps retrying it
    const sender = content.header?.sender;
    if (sender)
      client.simpleAckResponse(sender, ConfirmedServiceChoice.CONFIRMED_COV_NOTIFICATION, content.invokeId ?? 0);
  };
  client.on('covNotifyUnconfirmed', unconfirmed as never);
  client.on('covNotify', confirmed as never);

  for (const device of new Set(assets.map((a) => a.device))) {
    const previous = device.onRecovered;
    device.onRecovered = () => {
      previous?.();
      // it may have restarted and forgotten us: subscribe again now
      for (const e of entries) if (e.asset.device === device && e.state !== 'refused') void subscribe(e);
    };
  }
  for (const e of entries) void subscribe(e);

  let closing: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    closed = true;
    for (const e of entries) clearTimeout(e.timer);
    client.off('covNotifyUnconfirmed', unconfirmed as never);
    client.off('covNotify', confirmed as never);
    const cancel = AbortSignal.timeout(1_000);
    await Promise.allSettled(
      entries
        .filter((e) => e.state === 'active')
        .map((e) =>
          session.call(
            e.asset.device,
            (receiver) =>
              client.subscribeCov(
                receiver,
                { type: e.point.object.type, instance: e.point.object.instance },
                e.processId,
                true,
                false,
                0,
              ),
            cancel,
          ),
        ),
    );
  }

  return {
    counters,
    activeCount: () => entries.filter((e) => e.state === 'active').length,
    refusedCount: () => entries.filter((e) => e.state === 'refused').length,
    close() {
      closing ??= shutdown();
      return closing;
    },
  };
}
