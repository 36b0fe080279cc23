import { createMemoryNetwork } from '@voltimax/bus/testing';
import { subjects, type DeviceWrite, type WriteResult } from '@voltimax/contracts';
import { sendWrite, type SendWriteOptions } from './device-write';

const WRITE: DeviceWrite = {
  v: 1,
  commandId: 'cmd-1',
  assetId: 'bat-1',
  setpoint: { kind: 'battery-power', powerW: 1_000 },
  issuedAtMs: 1_000,
  expiresAtMs: 16_000,
};
const encoder = new TextEncoder();

function setup() {
  const network = createMemoryNetwork();
  const arbiter = network.connect();
  const driver = network.connect();
  const opts: SendWriteOptions = {
    bus: arbiter,
    timeoutMs: 20,
    attempts: 3,
    retryDelayMs: 0,
    sleep: () => Promise.resolve(),
    stillWanted: () => true,
  };
  return { arbiter, driver, opts };
}

describe('sendWrite', () => {
  it('applied and unchanged are success', async () => {
    const { driver, opts } = setup();
    driver.reply(
      subjects.deviceWrite,
      (w): WriteResult => ({ v: 1, commandId: w.commandId, assetId: w.assetId, status: 'unchanged', atMs: 2 }),
    );
    await expect(sendWrite(WRITE, opts)).resolves.toMatchObject({ kind: 'ok', status: 'unchanged', attempts: 1 });
  });

  it('a reply for another command is an invalid reply, not a success', async () => {
    const { driver, opts } = setup();
    driver.reply(
      subjects.deviceWrite,
      (w): WriteResult => ({ v: 1, commandId: 'cmd-other', assetId: w.assetId, status: 'applied', atMs: 2 }),
    );
    await expect(sendWrite(WRITE, opts)).resolves.toMatchObject({
      kind: 'failed',
      failure: 'invalid-reply',
      attempts: 1,
    });
  });

  it('a reply that fails the schema is an invalid reply', async () => {
    const { driver, opts } = setup();
    driver.raw.subscribe(
      'device.*.write',
      {},
      (msg) => msg.respond(encoder.encode('{"status":"applied"}')),
      () => undefined,
    );
    await expect(sendWrite(WRITE, opts)).resolves.toMatchObject({ kind: 'failed', failure: 'invalid-reply' });
  });

  it('a driver refusing the request (Voltimax-Error) is refused, without retry', async () => {
    const { driver, opts } = setup();
    driver.raw.subscribe(
      'device.*.write',
      {},
      (msg) => msg.respond(new Uint8Array(0), { 'Voltimax-Error': 'invalid-request: nope' }),
      () => undefined,
    );
    await expect(sendWrite(WRITE, opts)).resolves.toMatchObject({
      kind: 'failed',
      failure: 'refused',
      detail: 'invalid-request: nope',
      attempts: 1,
    });
  });

  it('stops retrying once the write is no longer wanted', async () => {
    const { opts } = setup();
    let wanted = 2;
    const outcome = await sendWrite(WRITE, { ...opts, stillWanted: () => wanted-- > 0 });
    expect(outcome).toEqual({ kind: 'abandoned', attempts: 2 });
  });

  it('retries a failed status and succeeds on a later attempt', async () => {
    const { driver, opts } = setup();
    let calls = 0;
    driver.reply(
      subjects.deviceWrite,
      (w): WriteResult => ({
        v: 1,
        commandId: w.commandId,
        assetId: w.assetId,
        status: ++calls < 3 ? 'failed' : 'applied',
        atMs: 2,
      }),
    );
    await expect(sendWrite(WRITE, opts)).resolves.toMatchObject({ kind: 'ok', status: 'applied', attempts: 3 });
  });
});
