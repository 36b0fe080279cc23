import type { MemoryBus } from '@voltimax/bus/testing';
import { DeviceWriteSchema, type DeviceWrite, type WriteResult } from '@voltimax/contracts';

/** What the fake driver does with a write: answer with a status, or stay silent (the request times out). */
export type DriverBehaviour = WriteResult['status'] | 'silent';

/** A driver on the in-memory bus: records every `device.*.write` and answers as told. */
export interface MemoryDriver {
  readonly writes: DeviceWrite[];
  /** How to answer from now on (default: `applied` for everything). */
  behave(behaviour: DriverBehaviour | ((write: DeviceWrite) => DriverBehaviour)): void;
  /** Unsubscribe: writes then get "no responders". */
  stop(): void;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Subscribes `device.*.write` on `bus` at the byte level, so it can also not answer at all. */
export function memoryDriver(bus: MemoryBus, now: () => number): MemoryDriver {
  const writes: DeviceWrite[] = [];
  let behaviour: (write: DeviceWrite) => DriverBehaviour = () => 'applied';
  const sub = bus.raw.subscribe(
    'device.*.write',
    {},
    (msg) => {
      const write = DeviceWriteSchema.parse(JSON.parse(decoder.decode(msg.data)));
      writes.push(write);
      const status = behaviour(write);
      if (status === 'silent') return;
      const result: WriteResult = {
        v: 1,
        commandId: write.commandId,
        assetId: write.assetId,
        status,
        atMs: now(),
        ...(status === 'applied' || status === 'unchanged' ? {} : { error: `fake driver says ${status}` }),
      };
      msg.respond(encoder.encode(JSON.stringify(result)));
    },
    () => undefined,
  );
  return {
    writes,
    behave(next) {
      behaviour = typeof next === 'function' ? next : () => next;
    },
    stop: () => sub.unsubscribe(),
  };
}
