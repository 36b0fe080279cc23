import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudSettingsSchema } from '@voltimax/contracts';
import { findBinary, freePort, waitFor } from '@voltimax/testing';
import { pingResult, telemetryFrame } from '../../testing/behaviour';
import { FAST_RECONNECT } from '../../testing/mqtt-fixture';
import { createCloudClient, createGatewayTransport } from '../factory';
import { MqttCloudClient } from './mqtt-cloud-client';
import { MqttCommandChannel } from './mqtt-command-channel';

// mqtts:// with a private CA and username/password, against a real mosquitto started here with TLS and a password
// file (certificates made with openssl, the password file with mosquitto_passwd). Registered only where those three
// binaries exist.
const mosquitto = findBinary('mosquitto');
const openssl = findBinary('openssl');
const passwd = findBinary('mosquitto_passwd');
const describeTls = mosquitto && openssl && passwd ? describe : undefined;

describeTls?.('MQTT over TLS with credentials (mosquitto)', () => {
  let dir: string;
  let broker: ChildProcess | undefined;
  let url: string;
  let ca: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voltimax-mqtts-'));
    const ssl = (...args: string[]) => execFileSync(openssl as string, args, { cwd: dir, stdio: 'ignore' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=voltimax test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    );
    ssl(
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    );
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    );
    execFileSync(passwd as string, ['-b', '-c', join(dir, 'passwd'), 'gw-1', 'right-password'], { stdio: 'ignore' });
    // mosquitto started as root drops to its own user, which must be able to read the (throw-away) key and files.
    chmodSync(dir, 0o755);
    for (const file of ['ca.crt', 'server.crt', 'server.key', 'passwd']) chmodSync(join(dir, file), 0o644);
    const port = await freePort();
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        `cafile ${join(dir, 'ca.crt')}`,
        `certfile ${join(dir, 'server.crt')}`,
        `keyfile ${join(dir, 'server.key')}`,
        'allow_anonymous false',
        `password_file ${join(dir, 'passwd')}`,
        'persistence false',
        'log_dest stderr',
        '',
      ].join('\n'),
    );
    broker = spawn(mosquitto as string, ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port }, () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
        }),
      { timeoutMs: 10_000, message: 'mosquitto (TLS) to listen' },
    );
    url = `mqtts://127.0.0.1:${port}`;
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  }, 30_000);

  afterAll(async () => {
    const running = broker;
    if (running !== undefined && running.exitCode === null) {
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  jest.setTimeout(20_000);

  it('serves commands and telemetry over TLS with the credentials from the environment', async () => {
    const settings = CloudSettingsSchema.parse({
      transport: 'mqtt',
      brokerUrl: url,
      usernameEnv: 'MQTT_USER',
      passwordEnv: 'MQTT_PASS',
    });
    const env = { MQTT_USER: 'gw-1', MQTT_PASS: 'right-password' };
    const options = { mqttTls: { ca }, mqtt: FAST_RECONNECT };
    const transport = createGatewayTransport(settings, env, 'gw-tls', undefined, options);
    const cloud = createCloudClient(settings, env, undefined, options);
    try {
      await transport?.commands.start(async (command) => pingResult(command));
      await waitFor(() => transport?.commands.status().state === 'online', {
        message: 'the TLS command channel to be online',
      });

      const reply = await cloud?.send({
        gatewayId: 'gw-tls',
        messageType: 'PingGateway',
        payload: { sentAtMs: Date.now() },
        timeoutMs: 10_000,
      });
      await transport?.telemetry.send(telemetryFrame('gw-tls', 1));

      expect(reply).toMatchObject({ ok: true, gatewayId: 'gw-tls' });
      expect(transport?.telemetry.status().state).toBe('online');
    } finally {
      await Promise.all([transport?.commands.close(), transport?.telemetry.close(), cloud?.close()]);
    }
  });

  it('stays offline with an auth reason when the password is wrong', async () => {
    const channel = new MqttCommandChannel({
      brokerUrl: url,
      gatewayId: 'gw-tls-2',
      username: 'gw-1',
      password: 'wrong',
      tls: { ca },
      ...FAST_RECONNECT,
    });
    try {
      await channel.start(async (command) => pingResult(command));
      await waitFor(() => channel.status().reason?.startsWith('auth:'), { message: 'an auth refusal' });
      expect(channel.status().state).toBe('offline');
    } finally {
      await channel.close();
    }
  });

  it('refuses a broker whose certificate is not signed by a trusted CA', async () => {
    const client = new MqttCloudClient({
      brokerUrl: url,
      username: 'gw-1',
      password: 'right-password',
      ...FAST_RECONNECT,
    });
    try {
      await waitFor(
        () =>
          client.status().state === 'offline' && /certificate|self.signed|issuer/i.test(client.status().reason ?? ''),
        {
          message: 'a certificate refusal',
        },
      );
    } finally {
      await client.close();
    }
  });
});
