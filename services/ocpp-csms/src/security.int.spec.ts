/**
 * OCPP security profiles on real sockets: 1 (HTTP basic auth on the WebSocket upgrade, per-charger passwords from the
 * variables assets.json names) and 2 (the same over TLS; a throw-away CA and server certificate made with openssl).
 */
import { connect } from 'node:net';
import { waitFor } from '@voltimax/testing';
import { startHarness, testSite, type Csms, type Harness } from './testing/harness';
import { TestChargePoint } from './testing/test-charge-point';
import { createTestPki, type TestPki } from './testing/tls';

jest.setTimeout(30_000);

const PASSWORDS = { OCPP_PW_CP_1: 'correct horse battery', OCPP_PW_CP_2: 's3cret:with:colons' };

let h: Harness;
let pki: TestPki;
const cps: TestChargePoint[] = [];

/** Sends one raw HTTP request to the OCPP port and returns everything the server answers until it closes (or 2 s). */
async function rawRequest(csms: Csms, request: string): Promise<string> {
  const socket = connect(csms.port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk) => (answer += chunk.toString()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(request);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 2_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  socket.destroy();
  return answer;
}

function chargePoint(csms: Csms, identity: string, extra: { password?: string; wsOpts?: Record<string, unknown> } = {}) {
  const cp = new TestChargePoint({ endpoint: csms.endpoint, identity, ...extra });
  cps.push(cp);
  return cp;
}

beforeAll(async () => {
  h = await startHarness();
  pki = createTestPki();
});

afterEach(async () => {
  await Promise.allSettled(cps.splice(0).map((cp) => cp.close(true)));
});

afterAll(async () => {
  await h?.stop();
  pki?.remove();
});

describe('security profile 1: basic auth', () => {
  let csms: Csms;
  beforeAll(async () => {
    csms = await h.startCsms({
      site: testSite({ passwordEnv: 'OCPP_PW' }),
      env: { OCPP_SECURITY_PROFILE: '1', ...PASSWORDS },
    });
  });
  afterAll(() => h.stopCsms(csms));

  it('the right password connects and boots', async () => {
    const cp = chargePoint(csms, 'CP-1', { password: PASSWORDS.OCPP_PW_CP_1 });
    await cp.connect();
    expect(await cp.boot()).toMatchObject({ status: 'Accepted', interval: 60 });
  });

  it('passwords are per charge point (and may contain colons)', async () => {
    const cp = chargePoint(csms, 'CP-2', { password: PASSWORDS.OCPP_PW_CP_2 });
    await cp.connect();
    expect(await cp.boot()).toMatchObject({ status: 'Accepted' });
    const other = chargePoint(csms, 'CP-1', { password: PASSWORDS.OCPP_PW_CP_2 });
    await expect(other.connect()).rejects.toMatchObject({ code: 401, message: 'Unauthorized' });
  });

  it.each([
    ['a wrong password', 'CP-1', 'guess', 'wrong password'],
    ['no password', 'CP-1', undefined, 'no password'],
    ['an unknown identity', 'CP-EVIL', PASSWORDS.OCPP_PW_CP_1, 'unknown identity'],
  ])('%s is refused with 401 at the upgrade, counted and listed', async (_name, identity, password, reason) => {
    const cp = chargePoint(csms, identity, password === undefined ? {} : { password });
    await expect(cp.connect()).rejects.toMatchObject({ code: 401, message: 'Unauthorized' });
    const list = await h.chargers();
    expect(list.unknown.find((u) => u.chargePointId === identity)).toMatchObject({ reason, remoteAddress: expect.stringContaining('127.0.0.1') });
    await waitFor(() => (h.heartbeats.at(-1)?.counters?.['authFailures'] ?? 0) >= 1, { message: 'authFailures counted' });
    expect(csms.log.some((l) => JSON.stringify(l).includes(PASSWORDS.OCPP_PW_CP_1))).toBe(false);
  });

  it('a client that offers no OCPP subprotocol is refused', async () => {
    const cp = new TestChargePoint({ endpoint: csms.endpoint, identity: 'CP-1', password: PASSWORDS.OCPP_PW_CP_1, protocols: ['ocpp2.0.1'] });
    cps.push(cp);
    await expect(cp.connect()).rejects.toMatchObject({ code: 400 });
  });

  it('an identity that is not valid percent-encoding gets 400 at the upgrade, counted and listed; the server keeps serving', async () => {
    const failures = h.heartbeats.at(-1)?.counters?.['authFailures'] ?? 0;
    const answer = await rawRequest(
      csms,
      'GET /ocpp/%E0%A4%A HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    const list = await h.chargers();
    expect(list.unknown.find((u) => u.chargePointId === '%E0%A4%A')).toMatchObject({
      reason: 'malformed upgrade request: URI malformed',
      remoteAddress: expect.stringContaining('127.0.0.1'),
    });
    expect(csms.log.find((l) => l.msg === 'charge point refused' && JSON.stringify(l).includes('%E0%A4%A'))).toBeDefined();
    await waitFor(() => (h.heartbeats.at(-1)?.counters?.['authFailures'] ?? 0) > failures, { message: 'authFailures counted' });
    const cp = chargePoint(csms, 'CP-1', { password: PASSWORDS.OCPP_PW_CP_1 });
    await cp.connect();
    expect(await cp.boot()).toMatchObject({ status: 'Accepted' });
  });

  it('a password variable that is not set stops the start with exit 78 and its name', async () => {
    await expect(
      h.startCsms({ site: testSite({ passwordEnv: 'OCPP_PW' }), env: { OCPP_SECURITY_PROFILE: '1', OCPP_PW_CP_1: 'x' } }),
    ).rejects.toThrow(/OCPP_PW_CP_2: the password of charge point 'CP-2' is not set/);
  });

  it('profile 1 without passwordEnv in assets.json is a configuration error', async () => {
    await expect(h.startCsms({ env: { OCPP_SECURITY_PROFILE: '1' } })).rejects.toThrow(
      /security profile 1 needs a password for charge point 'CP-1'/,
    );
  });
});

describe('security profile 2: TLS', () => {
  let csms: Csms;
  beforeAll(async () => {
    csms = await h.startCsms({
      site: testSite({ passwordEnv: 'OCPP_PW' }),
      env: {
        OCPP_SECURITY_PROFILE: '2',
        OCPP_TLS_CERT_FILE: pki.certFile,
        OCPP_TLS_KEY_FILE: pki.keyFile,
        ...PASSWORDS,
      },
    });
  });
  afterAll(() => h.stopCsms(csms));

  it('listens on wss:// and a charge point that trusts the CA connects with its password', async () => {
    expect(csms.endpoint).toMatch(/^wss:\/\//);
    const cp = chargePoint(csms, 'CP-1', { password: PASSWORDS.OCPP_PW_CP_1, wsOpts: { ca: pki.ca, minVersion: 'TLSv1.2' } });
    await cp.connect();
    expect(await cp.boot()).toMatchObject({ status: 'Accepted' });
    await cp.status(1, 'Available');
    await h.reading('ev-1', (r) => r.quality === 'good' && r.chargerState === 'available');
  });

  it('a charge point that does not trust the certificate cannot connect; the server keeps serving', async () => {
    const cp = chargePoint(csms, 'CP-1', { password: PASSWORDS.OCPP_PW_CP_1 });
    await expect(cp.connect()).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    const good = chargePoint(csms, 'CP-2', { password: PASSWORDS.OCPP_PW_CP_2, wsOpts: { ca: pki.ca } });
    await good.connect();
    expect(await good.boot()).toMatchObject({ status: 'Accepted' });
  });

  it('TLS does not replace the password', async () => {
    const cp = chargePoint(csms, 'CP-1', { password: 'nope', wsOpts: { ca: pki.ca } });
    await expect(cp.connect()).rejects.toMatchObject({ code: 401, message: 'Unauthorized' });
  });

  it('missing certificate files are a configuration error', async () => {
    await expect(
      h.startCsms({ site: testSite({ passwordEnv: 'OCPP_PW' }), env: { OCPP_SECURITY_PROFILE: '2', OCPP_TLS_CERT_FILE: '/nonexistent.pem', ...PASSWORDS } }),
    ).rejects.toThrow(/OCPP_TLS_CERT_FILE: cannot read \/nonexistent.pem: ENOENT[\s\S]*OCPP_TLS_KEY_FILE: required for security profile 2/);
  });
});
