// What went wrong talking to a BACnet device, as errors a caller can tell apart.
import { describeBacnetError } from './mapping';

/** The device did not answer within the APDU timeout (after the retries). */
export class BacnetTimeoutError extends Error {
  override readonly name = 'BacnetTimeoutError';
  readonly retryable = true;
  constructor(
    readonly device: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`BACnet device ${device} did not answer within ${timeoutMs} ms`, options);
  }
}

/** The device answered with a BACnet Error PDU (class and code). */
export class BacnetErrorResponse extends Error {
  override readonly name = 'BacnetErrorResponse';
  readonly retryable = false;
  constructor(
    readonly device: string,
    readonly errorClass: number,
    readonly errorCode: number,
    options?: ErrorOptions,
  ) {
    super(`BACnet device ${device}: ${describeBacnetError(errorClass, errorCode)}`, options);
  }
}

/**
 * The device refused the request with a Reject or Abort PDU (the stack does not tell the two apart): an
 * unsupported service, a request too long, no resources.
 */
export class BacnetRefusedError extends Error {
  override readonly name = 'BacnetRefusedError';
  readonly retryable = false;
  constructor(
    readonly device: string,
    readonly reason: number,
    options?: ErrorOptions,
  ) {
    super(
      `BACnet device ${device} rejected or aborted the request (reason ${reason}${REASONS[reason] ? `: ${REASONS[reason]}` : ''})`,
      options,
    );
  }
}

/** Reject reasons (clause 21, BACnetRejectReason); abort reasons share the low numbers with other meanings. */
const REASONS: Readonly<Record<number, string>> = {
  0: 'other',
  1: 'buffer-overflow',
  4: 'invalid-tag / segmentation-not-supported',
  9: 'unrecognized-service / out-of-resources',
  11: 'apdu-too-long',
};

/** The device at the configured address is not the configured device instance (a moved or replaced device). */
export class BacnetWrongDeviceError extends Error {
  override readonly name = 'BacnetWrongDeviceError';
  readonly retryable = true;
  constructor(
    readonly device: string,
    readonly deviceInstance: number,
    options?: ErrorOptions,
  ) {
    super(`the BACnet device at ${device} is not device ${deviceInstance} (it has no such device object)`, options);
  }
}

/** A value the device sent that we cannot use (fault, out of service, not a number). */
export class BacnetPointError extends Error {
  override readonly name = 'BacnetPointError';
  readonly retryable = true;
  constructor(
    readonly problems: readonly string[],
    options?: ErrorOptions,
  ) {
    super(problems.join('; '), options);
  }
}

/** The request was given up because the host aborted it (timeout or stop). */
export class BacnetAbortedError extends Error {
  override readonly name = 'BacnetAbortedError';
  readonly retryable = true;
  constructor(what: string) {
    super(`${what} aborted`);
  }
}

/**
 * The error the stack threw as one of ours: `ERR_TIMEOUT` → timeout, `BacnetError - Class:c - Code:n` → error
 * response, `BacnetAbort - Reason:r` (Reject or Abort PDU) → refused. Anything else comes back as it was.
 */
export function classifyStackError(err: unknown, device: string, timeoutMs: number): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  if (err.message === 'ERR_TIMEOUT') return new BacnetTimeoutError(device, timeoutMs, { cause: err });
  const error = /BacnetError - Class:(\d+) - Code:(\d+)/.exec(err.message);
  if (error) return new BacnetErrorResponse(device, Number(error[1]), Number(error[2]), { cause: err });
  const refused = /BacnetAbort - Reason:(\d+)/.exec(err.message);
  if (refused) return new BacnetRefusedError(device, Number(refused[1]), { cause: err });
  return err;
}

const SERVICES_CLASS = 5;

/**
 * True when the error says the device does not do this service at all (Reject/Abort, or an Error of class
 * services), as opposed to a device that is gone (timeout) or an object problem.
 */
export function isServiceRefusal(err: unknown): boolean {
  return err instanceof BacnetRefusedError || (err instanceof BacnetErrorResponse && err.errorClass === SERVICES_CLASS);
}
