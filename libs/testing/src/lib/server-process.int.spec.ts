import { execFileSync } from 'node:child_process';
import { freePort } from './free-port';
import { acceptsConnections, ServerStartError, startServerProcess } from './server-process';

function isRunning(pattern: string): boolean {
  try {
    execFileSync('pgrep', ['-f', pattern]);
    return true;
  } catch {
    return false;
  }
}

describe('startServerProcess', () => {
  it('reports a server that exits before it is ready, with its exit code and output', async () => {
    const failure = await startServerProcess({
      binaryPath: '/bin/sh',
      args: ['-c', 'echo "config error on line 3" >&2; exit 3'],
      port: await freePort(),
    }).catch((err: unknown) => err);

    expect(failure).toBeInstanceOf(ServerStartError);
    expect((failure as ServerStartError).message).toMatch(/exited with 3 before it accepted connections/);
    expect((failure as ServerStartError).outputTail).toBe('config error on line 3');
    expect((failure as ServerStartError).retryable).toBe(false);
  });

  it('gives up after the start timeout and stops the process', async () => {
    const marker = `${process.pid}.25`; // a unique sleep argument to look the process up by
    const started = performance.now();
    const failure = await startServerProcess({
      binaryPath: '/bin/sleep',
      args: [marker],
      port: await freePort(),
      startTimeoutMs: 200,
    }).catch((err: unknown) => err);

    expect(performance.now() - started).toBeLessThan(2_000);
    expect(failure).toBeInstanceOf(ServerStartError);
    expect((failure as Error).message).toMatch(/did not accept connections within 200 ms/);
    expect(isRunning(`sleep ${marker}`)).toBe(false);
  });

  it('marks "address already in use" as retryable', async () => {
    const failure = await startServerProcess({
      binaryPath: '/bin/sh',
      args: ['-c', 'echo "bind: Address already in use" >&2; exit 1'],
      port: await freePort(),
    }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ServerStartError);
    expect((failure as ServerStartError).retryable).toBe(true);
  });

  it('waits for the ready line and the port, stops the server, and can be stopped twice', async () => {
    const port = await freePort();
    const server =
      `const s = require('node:net').createServer((c) => c.end());` +
      `setTimeout(() => s.listen(${port}, '127.0.0.1', () => process.stdout.write('ready\\n')), 100);`;
    const proc = await startServerProcess({
      binaryPath: process.execPath,
      args: ['-e', server],
      port,
      readyPattern: /^ready$/m,
    });
    expect(await acceptsConnections('127.0.0.1', port)).toBe(true);
    await Promise.all([proc.stop(), proc.stop()]);
    expect(await acceptsConnections('127.0.0.1', port)).toBe(false);
    expect(proc.outputTail()).toBe('ready');
  });
});
