// Cloud command round trip ("Cloud bridge" issue, Measure). Run:
//   node tools/run-ts.js tools/bench/cloud-roundtrip.ts        (or `npm run bench -- cloud`)
// The cloud side (a CloudCommandClient, as the CLI uses it) sends PingGateway to a gateway's CommandChannel, whose
// handler answers at once; the figure is send → reply received, over real brokers on loopback, all in this process:
//   - MQTT 5 on a private mosquitto started like the tests do (startMqtt: mosquitto's defaults), QoS 1 both ways;
//   - the same with `set_tcp_nodelay true` on the broker's listener (a mosquitto started here): mosquitto's default
//     leaves Nagle's algorithm on, which with delayed ACKs costs ≈ 40 ms per command on loopback (the gateway's and
//     the cloud client's own sockets have TCP_NODELAY set by libs/cloud);
//   - Azure Service Bus with the real @azure/service-bus SDK on the in-process stand-in (libs/testing), session
//     queues gateway-commands / cloud-replies. The stand-in runs in this same process, so its work is in the figure
//     too; a real namespace adds the WAN round trips (two hops each way) on top.
// (1) sequential: one command at a time, COMMANDS of them after WARMUP; (2) 16 in flight: throughput.
// Figures only: nothing asserts a timing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  MqttCloudClient,
  MqttCommandChannel,
  ServiceBusCloudClient,
  ServiceBusCommandChannel,
  type CloudCommandClient,
  type CommandChannel,
} from '@voltimax/cloud';
import { pingResult } from '@voltimax/cloud/testing';
import { findBinary, freePort, startMqtt, startServiceBusStandIn, waitFor } from '@voltimax/testing';
import { fmt, machineContext, out, percentile, printTable } from './lib-bench';

const COMMANDS = 500;
const WARMUP = 50;
const IN_FLIGHT = 16;
const CONCURRENT_COMMANDS = 800;
const GATEWAY = 'gw-bench';

interface Transport {
  readonly name: string;
  readonly channel: CommandChannel;
  readonly cloud: CloudCommandClient;
  close(): Promise<void>;
}

function ping(cloud: CloudCommandClient): Promise<unknown> {
  return cloud.send({
    gatewayId: GATEWAY,
    messageType: 'PingGateway',
    payload: { sentAtMs: Date.now() },
    timeoutMs: 15_000,
  });
}

async function measure(t: Transport): Promise<readonly string[]> {
  await t.channel.start(async (command) => pingResult(command, 'bench'));
  await waitFor(() => t.channel.status().state === 'online', {
    timeoutMs: 15_000,
    message: `${t.name} channel online`,
  });
  for (let i = 0; i < WARMUP; i += 1) await ping(t.cloud);

  const roundTripsMs: number[] = [];
  for (let i = 0; i < COMMANDS; i += 1) {
    const started = performance.now();
    await ping(t.cloud);
    roundTripsMs.push(performance.now() - started);
  }

  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < CONCURRENT_COMMANDS) {
        next += 1;
        await ping(t.cloud);
      }
    }),
  );
  const perS = CONCURRENT_COMMANDS / ((performance.now() - started) / 1000);
  out(
    `cloud-roundtrip: ${t.name}: p50 ${fmt(percentile(roundTripsMs, 50), 2)} ms, p99 ${fmt(percentile(roundTripsMs, 99), 2)} ms over ${COMMANDS} commands; ${fmt(perS, 0)} commands/s with ${IN_FLIGHT} in flight`,
  );
  return [
    t.name,
    fmt(percentile(roundTripsMs, 50), 2),
    fmt(percentile(roundTripsMs, 90), 2),
    fmt(percentile(roundTripsMs, 99), 2),
    fmt(Math.max(...roundTripsMs), 2),
    fmt(perS, 0),
  ];
}

async function mqtt(): Promise<Transport> {
  const broker = await startMqtt();
  const channel = new MqttCommandChannel({ brokerUrl: broker.url, gatewayId: GATEWAY });
  const cloud = new MqttCloudClient({ brokerUrl: broker.url });
  return {
    name: `MQTT 5, mosquitto (${broker.source})`,
    channel,
    cloud,
    close: async () => {
      await Promise.all([channel.close(), cloud.close()]);
      await broker.stop();
    },
  };
}

/** A mosquitto with TCP_NODELAY on its listener, started (and stopped) by this bench. */
async function mqttNoDelay(): Promise<Transport> {
  const binary = findBinary('mosquitto');
  if (binary === undefined) throw new Error('mosquitto is not installed');
  const dir = mkdtempSync(path.join(tmpdir(), 'voltimax-bench-mqtt-'));
  const port = await freePort();
  const config = path.join(dir, 'mosquitto.conf');
  writeFileSync(config, `listener ${port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\n`);
  const broker = spawn(binary, ['-c', config], { stdio: 'ignore' });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
  await waitFor(listening, { timeoutMs: 10_000, message: 'mosquitto (nodelay) to listen' });
  const url = `mqtt://127.0.0.1:${port}`;
  const channel = new MqttCommandChannel({ brokerUrl: url, gatewayId: GATEWAY });
  const cloud = new MqttCloudClient({ brokerUrl: url });
  return {
    name: 'MQTT 5, mosquitto set_tcp_nodelay',
    channel,
    cloud,
    close: async () => {
      await Promise.all([channel.close(), cloud.close()]);
      const exited = new Promise((resolve) => broker.once('exit', resolve));
      broker.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function serviceBus(): Promise<Transport> {
  const standIn = await startServiceBusStandIn({
    queues: [
      { name: 'gateway-commands', requiresSession: true },
      { name: 'cloud-replies', requiresSession: true },
    ],
  });
  const channel = new ServiceBusCommandChannel({ connectionString: standIn.connectionString, gatewayId: GATEWAY });
  const cloud = new ServiceBusCloudClient({ connectionString: standIn.connectionString });
  return {
    name: 'Service Bus SDK, stand-in',
    channel,
    cloud,
    close: async () => {
      await Promise.all([channel.close(), cloud.close()]);
      await standIn.close();
    },
  };
}

async function main(): Promise<void> {
  out(`cloud-roundtrip: ${machineContext().line}`);
  const rows: (readonly string[])[] = [];
  for (const make of [mqtt, mqttNoDelay, serviceBus]) {
    const transport = await make();
    try {
      rows.push(await measure(transport));
    } finally {
      await transport.close();
    }
  }
  out();
  printTable(['transport (loopback)', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', `cmd/s @${IN_FLIGHT}`], rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `cloud-roundtrip failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
