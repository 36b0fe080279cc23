// Modbus discovery scan of a /24 at the default settings (32 hosts at once, 100 new connections per second, 1000 ms
// connect and request timeouts, unit ids 1,2,3,126,247): how long it takes when nothing answers (every host
// refuses, ports 502 and 1502) and with devices on it (an SDM630 that answers only unit 1, a silent listener, a
// resetting listener; the others refuse). All on loopback 127.44.0.0/24. Also the same /24 at 128 hosts and 1000
// connections per second. Run: node tools/run-ts.js tools/bench/discovery.ts   (or `npm run bench -- discovery`)
import { performance } from 'node:perf_hooks';
import { scanModbus, type ModbusScanOptions, type ModbusScanResult } from '@voltimax/discovery';
import { SDM630_MAP, startPeerOn, startResetServer, startSilentServer } from '@voltimax/discovery/testing';
import { freePort } from '@voltimax/testing';
import { machineContext, out, printTable } from './lib-bench';

const NET = '127.44.0';

async function timed(options: ModbusScanOptions): Promise<{ readonly ms: number; readonly result: ModbusScanResult }> {
  const started = performance.now();
  const result = await scanModbus(options);
  return { ms: performance.now() - started, result };
}

function outcomes(result: ModbusScanResult): string {
  const counts = new Map<string, number>();
  for (const port of result.ports) counts.set(port.outcome, (counts.get(port.outcome) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => `${n} ${outcome}`).join(', ');
}

async function main(): Promise<void> {
  out(`discovery: ${machineContext().line}`);
  const port = await freePort();
  const [peer, silent, reset] = await Promise.all([
    startPeerOn(`${NET}.10`, port, SDM630_MAP),
    startSilentServer(`${NET}.20`, port),
    startResetServer(`${NET}.30`, port),
  ]);
  try {
    const rows: string[][] = [];
    const cases: readonly [string, ModbusScanOptions][] = [
      ['empty /24, ports 502+1502, defaults', { cidr: `${NET}.0/24` }],
      ['/24 with devices, 1 port, defaults', { cidr: `${NET}.0/24`, ports: [port] }],
      [
        '/24 with devices, 128 hosts, 1000 conn/s',
        { cidr: `${NET}.0/24`, ports: [port], concurrency: 128, connectsPerSecond: 1_000 },
      ],
    ];
    for (const [name, options] of cases) {
      const { ms, result } = await timed(options);
      const slowest = Math.max(...result.hostElapsedMs.values());
      rows.push([
        name,
        String(result.ports.length),
        String(result.candidates.length),
        (ms / 1000).toFixed(2),
        (slowest / 1000).toFixed(2),
        (result.worstCaseHostMs / 1000).toFixed(1),
        outcomes(result),
      ]);
      out(
        `discovery: ${name}: ${(ms / 1000).toFixed(2)} s for ${result.ports.length} host:ports, ${result.candidates.length} found`,
      );
    }
    out('');
    printTable(['scan', 'host:ports', 'found', 'total s', 'slowest host s', 'host bound s', 'outcomes'], rows);
    out('');
    out('discovery: the rate limit sets the floor (host:ports / connections per second); a silent host costs one');
    out('discovery: request timeout per unit id, bounded by the per-host budget.');
    if (/WRITE/.test(peer.output())) throw new Error('the scan wrote to the peer');
  } finally {
    await Promise.all([peer.stop(), silent.stop(), reset.stop()]);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`discovery bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
