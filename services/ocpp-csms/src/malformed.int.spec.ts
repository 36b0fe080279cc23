/**
 * Messages that break the OCPP 1.6-J schema, sent by a raw WebSocket client (no OCPP library on the sending side):
 * each is answered with the CALLERROR the 1.6 errata prescribe, the charger's reading says why its data is unusable
 * (quality `error`), the violation is counted and logged, and the central system keeps serving.
 */
import { WebSocket } from 'ws';
import { waitFor } from '@voltimax/testing';
import { startHarness, type Csms, type Harness } from './testing/harness';

jest.setTimeout(30_000);

/** A bare OCPP-J client: frames in, frames out. */
class RawClient {
  private readonly frames: unknown[] = [];
  private seq = 0;
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      try {
        this.frames.push(JSON.parse(data.toString()));
      } catch {
        this.frames.push(data.toString());
      }
    });
  }

  static async open(url: string): Promise<RawClient> {
    const ws = new WebSocket(url, ['ocpp1.6']);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new RawClient(ws);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a text frame and waits for the answer with the same message id. */
  async send(text: string, id: string): Promise<unknown[]> {
    const from = this.frames.length;
    this.ws.send(text);
    return waitFor(() => this.frames.slice(from).find((f): f is unknown[] => Array.isArray(f) && f[1] === id), {
      message: `an answer to ${id}`,
    });
  }

  call(action: string, payload: unknown): Promise<unknown[]> {
    this.seq += 1;
    const id = `m-${this.seq}`;
    return this.send(JSON.stringify([2, id, action, payload]), id);
  }

  close(): void {
    this.ws.terminate();
  }
}

const now = () => new Date().toISOString();

let h: Harness;
let csms: Csms;
let client: RawClient;

beforeAll(async () => {
  h = await startHarness();
  csms = await h.startCsms();
  client = await RawClient.open(`${csms.endpoint}/CP-1`);
  expect(await client.call('BootNotification', { chargePointVendor: 'Autel', chargePointModel: 'MaxiChargerAC' })).toMatchObject([
    3,
    'm-1',
    { status: 'Accepted' },
  ]);
});

afterAll(async () => {
  client?.close();
  await h?.stop();
});

describe('schema violations get the CALLERROR of OCPP 1.6-J', () => {
  it.each<[string, string, unknown, string, RegExp]>([
    ['an unknown enum value', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Bogus' }, 'FormationViolation', /allowed values/],
    ['a string where an integer belongs', 'MeterValues', { connectorId: 'one', meterValue: [] }, 'TypeConstraintViolation', /must be integer/],
    ['a missing required field', 'MeterValues', { connectorId: 1 }, 'OccurrenceConstraintViolation', /meterValue/],
    ['an idTag longer than 20 characters', 'StartTransaction', { connectorId: 1, idTag: 'X'.repeat(21), meterStart: 0, timestamp: now() }, 'FormationViolation', /20 characters/],
    ['an extra property', 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', colour: 'red' }, 'PropertyConstraintViolation', /additional properties/],
    ['a date-time that is no date', 'MeterValues', { connectorId: 1, meterValue: [{ timestamp: '2025-13-45T99:00:00Z', sampledValue: [{ value: '1' }] }] }, 'FormationViolation', /date-time/],
    ['a fractional transaction id', 'StopTransaction', { transactionId: 1.5, meterStop: 0, timestamp: now() }, 'TypeConstraintViolation', /integer/],
  ])('%s → %s', async (_name, action, payload, code, message) => {
    const answer = await client.call(action, payload);
    expect(answer[0]).toBe(4);
    expect(answer[2]).toBe(code);
    expect(String(answer[3])).toMatch(message);
  });

  it('a method that does not exist → NotImplemented', async () => {
    const answer = await client.call('FlyToTheMoon', {});
    expect(answer.slice(0, 3)).toEqual([4, expect.any(String), 'NotImplemented']);
  });

  it('a frame that is not JSON → RpcFrameworkError; one that is no OCPP message type → MessageTypeNotSupported', async () => {
    expect((await client.send('this is not json', '-1')).slice(0, 3)).toEqual([4, '-1', 'RpcFrameworkError']);
    // The message type is checked before the id is read, so the answer carries the id "-1".
    expect((await client.send('[7, "x-1", "Heartbeat", {}]', '-1')).slice(0, 3)).toEqual([4, '-1', 'MessageTypeNotSupported']);
  });

  it('the refused message makes the connector’s reading an error that names it; a valid one clears it', async () => {
    const since = h.readings.length;
    await client.call('MeterValues', { connectorId: 1, transactionId: 'abc', meterValue: [] });
    // The connector's error from an earlier case (a refused StopTransaction) is republished every 500 ms until this
    // one replaces it: wait for this one.
    const bad = await h.reading('ev-1', (r) => r.quality === 'error' && r.error?.startsWith('MeterValues refused') === true, { sinceIndex: since });
    expect(bad.error).toMatch(/^MeterValues refused: TypeConstraintViolation: .*transactionId/);
    expect(bad.values).toEqual({});
    await client.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: now() });
    await h.reading('ev-1', (r) => r.quality === 'good' && r.chargerState === 'available', { sinceIndex: since });
  });

  it('values that pass the schema but not plausibility are dropped and named; the rest is kept', async () => {
    const since = h.readings.length;
    const answer = await client.call('MeterValues', {
      connectorId: 1,
      meterValue: [
        {
          timestamp: now(),
          sampledValue: [
            { measurand: 'Power.Active.Import', unit: 'W', value: 'lots' },
            { measurand: 'Current.Import', unit: 'A', phase: 'L1', value: '-3' },
            { measurand: 'Energy.Active.Import.Register', unit: 'kWh', value: '12.5' },
          ],
        },
      ],
    });
    expect(answer).toEqual([3, expect.any(String), {}]);
    const reading = await h.reading('ev-1', (r) => r.quality === 'error' && r.error?.startsWith('implausible') === true, { sinceIndex: since });
    expect(reading.error).toContain('Power.Active.Import="lots": not a number');
    expect(reading.error).toContain('Current.Import.L1="-3": outside 0…1000 A');
    expect(reading.values).toMatchObject({ importEnergyWh: 12_500 });
  });

  it('counted, logged, and the central system keeps serving every charge point', async () => {
    expect((await client.call('Heartbeat', {}))[0]).toBe(3);
    expect(client.isOpen).toBe(true);
    const beat = await waitFor(() => {
      const last = h.heartbeats.at(-1);
      return (last?.counters?.['protocolErrors'] ?? 0) >= 8 ? last : undefined;
    }, { message: 'protocolErrors counted' });
    expect(beat.counters?.['badFrames']).toBeGreaterThanOrEqual(2);
    expect(beat.counters?.['implausibleValues']).toBeGreaterThanOrEqual(2);
    expect(csms.log.filter((l) => l.msg === 'charge point message refused').length).toBeGreaterThanOrEqual(8);
    const second = await RawClient.open(`${csms.endpoint}/CP-2`);
    expect((await second.call('BootNotification', { chargePointVendor: 'x', chargePointModel: 'y' }))[2]).toMatchObject({ status: 'Accepted' });
    second.close();
  });
});
