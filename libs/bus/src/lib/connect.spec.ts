import { captureLogger, LOG_LEVEL } from '../testing';
import { logStatus } from './connect';
import { PermissionViolationError } from '@nats-io/transport-node';

describe('logStatus', () => {
  it('logs a permission violation as an error naming the operation and subject', () => {
    const { log, lines } = captureLogger();
    const violation = new PermissionViolationError(
      `Permissions Violation for Publish to "device.bat-1.write"`,
      'publish',
      'device.bat-1.write',
    );

    logStatus(log, { type: 'error', error: violation });

    expect(lines).toEqual([
      expect.objectContaining({
        level: LOG_LEVEL.error,
        msg: 'nats permission violation',
        operation: 'publish',
        subject: 'device.bat-1.write',
      }),
    ]);
  });

  it.each([
    { status: { type: 'disconnect', server: 'a:4222' } as const, level: LOG_LEVEL.warn, msg: 'nats disconnected' },
    { status: { type: 'reconnect', server: 'a:4222' } as const, level: LOG_LEVEL.info, msg: 'nats reconnected' },
    { status: { type: 'reconnecting' } as const, level: LOG_LEVEL.debug, msg: 'nats reconnecting' },
    { status: { type: 'staleConnection' } as const, level: LOG_LEVEL.warn, msg: 'nats connection stale' },
    {
      status: { type: 'ldm', server: 'a:4222' } as const,
      level: LOG_LEVEL.warn,
      msg: 'nats server entering lame duck mode',
    },
  ])('logs $status.type as "$msg"', ({ status, level, msg }) => {
    const { log, lines } = captureLogger();
    logStatus(log, status);
    expect(lines).toEqual([expect.objectContaining({ level, msg })]);
  });
});
