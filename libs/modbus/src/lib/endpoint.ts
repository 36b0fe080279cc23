import { ModbusConfigError } from './errors';

/** Timing of the physical link, shared by every unit id behind it. */
export interface ModbusLinkTiming {
  /**
   * Minimum quiet time between the end of one transaction and the start of the next on this link, ms. RS485
   * gateways and RTU lines need it (default: 0 for `tcp`, 20 for `rtu-over-tcp`, 3.5 character times but at least
   * 2 ms for `rtu`).
   */
  readonly interFrameGapMs?: number;
  /** Extra quiet time after a write before the next transaction, ms, for devices that apply writes slowly (default 0). */
  readonly settleAfterWriteMs?: number;
  /** How long one connect (TCP handshake or serial open) may take, ms (default 3000). */
  readonly connectTimeoutMs?: number;
}

/** Modbus TCP (MBAP framing), e.g. an inverter or meter with an Ethernet port. */
export interface ModbusTcpEndpoint extends ModbusLinkTiming {
  readonly transport: 'tcp';
  readonly host: string;
  /** TCP port (default 502). */
  readonly port?: number;
}

/** Modbus RTU frames (with CRC) over a raw TCP socket: a transparent serial gateway (RS485 ⇄ Ethernet). */
export interface ModbusRtuOverTcpEndpoint extends ModbusLinkTiming {
  readonly transport: 'rtu-over-tcp';
  readonly host: string;
  readonly port: number;
}

/** Modbus RTU on a local serial line (RS485/RS232 adapter). */
export interface ModbusRtuEndpoint extends ModbusLinkTiming {
  readonly transport: 'rtu';
  /** Serial device, e.g. `/dev/ttyUSB0`. */
  readonly path: string;
  /** Baud rate, bit/s (default 9600). */
  readonly baudRate?: number;
  /** Parity (default `'none'`). */
  readonly parity?: 'none' | 'even' | 'odd';
  /** Data bits (default 8). */
  readonly dataBits?: 7 | 8;
  /** Stop bits (default 1). */
  readonly stopBits?: 1 | 2;
}

/** Where a set of Modbus units is reached: one physical connection. */
export type ModbusEndpoint = ModbusTcpEndpoint | ModbusRtuOverTcpEndpoint | ModbusRtuEndpoint;

/** Transport names. */
export type ModbusTransport = ModbusEndpoint['transport'];

/** An endpoint with every default applied. */
export type ResolvedEndpoint =
  | (Required<ModbusTcpEndpoint> & { readonly key: string })
  | (Required<ModbusRtuOverTcpEndpoint> & { readonly key: string })
  | (Required<ModbusRtuEndpoint> & { readonly key: string });

const DEFAULT_TCP_PORT = 502;
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
const DEFAULT_RTU_OVER_TCP_GAP_MS = 20;
const DEFAULT_BAUD_RATE = 9_600;

/** The key that identifies the physical endpoint: `host:port` for TCP transports, the device path for serial. */
export function endpointKey(endpoint: ModbusEndpoint): string {
  if (endpoint.transport === 'rtu') return endpoint.path;
  const port = endpoint.transport === 'tcp' ? (endpoint.port ?? DEFAULT_TCP_PORT) : endpoint.port;
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${port}` : `${endpoint.host}:${port}`;
}

/** 3.5 character times of 11 bits (start, 8 data, parity or second stop, stop) at `baudRate`, at least 2 ms. */
export function rtuInterFrameGapMs(baudRate: number): number {
  return Math.max(2, Math.ceil((3.5 * 11 * 1000) / baudRate));
}

function nonNegative(endpoint: string, name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new ModbusConfigError(`${endpoint}: ${name} must be a finite number ≥ 0, got ${value}`);
  }
  return value;
}

function validPort(key: string, port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ModbusConfigError(`${key}: port must be an integer 1..65535, got ${port}`);
  }
  return port;
}

/** Apply the defaults and check the values; throws {@link ModbusConfigError} on an invalid endpoint. */
export function resolveEndpoint(endpoint: ModbusEndpoint): ResolvedEndpoint {
  const key = endpointKey(endpoint);
  const connectTimeoutMs = nonNegative(
    key,
    'connectTimeoutMs',
    endpoint.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
  );
  const settleAfterWriteMs = nonNegative(key, 'settleAfterWriteMs', endpoint.settleAfterWriteMs ?? 0);
  switch (endpoint.transport) {
    case 'tcp':
      if (endpoint.host.length === 0) throw new ModbusConfigError('tcp endpoint: host is empty');
      return {
        key,
        transport: 'tcp',
        host: endpoint.host,
        port: validPort(key, endpoint.port ?? DEFAULT_TCP_PORT),
        interFrameGapMs: nonNegative(key, 'interFrameGapMs', endpoint.interFrameGapMs ?? 0),
        settleAfterWriteMs,
        connectTimeoutMs,
      };
    case 'rtu-over-tcp':
      if (endpoint.host.length === 0) throw new ModbusConfigError('rtu-over-tcp endpoint: host is empty');
      return {
        key,
        transport: 'rtu-over-tcp',
        host: endpoint.host,
        port: validPort(key, endpoint.port),
        interFrameGapMs: nonNegative(key, 'interFrameGapMs', endpoint.interFrameGapMs ?? DEFAULT_RTU_OVER_TCP_GAP_MS),
        settleAfterWriteMs,
        connectTimeoutMs,
      };
    case 'rtu': {
      if (endpoint.path.length === 0) throw new ModbusConfigError('rtu endpoint: path is empty');
      const baudRate = endpoint.baudRate ?? DEFAULT_BAUD_RATE;
      if (!Number.isInteger(baudRate) || baudRate <= 0) {
        throw new ModbusConfigError(`${key}: baudRate must be a positive integer, got ${baudRate}`);
      }
      return {
        key,
        transport: 'rtu',
        path: endpoint.path,
        baudRate,
        parity: endpoint.parity ?? 'none',
        dataBits: endpoint.dataBits ?? 8,
        stopBits: endpoint.stopBits ?? 1,
        interFrameGapMs: nonNegative(key, 'interFrameGapMs', endpoint.interFrameGapMs ?? rtuInterFrameGapMs(baudRate)),
        settleAfterWriteMs,
        connectTimeoutMs,
      };
    }
  }
}

/** Human-readable list of settings where two resolved endpoints with the same key differ (empty when equal). */
export function endpointDifferences(a: ResolvedEndpoint, b: ResolvedEndpoint): string[] {
  const left: Readonly<Record<string, unknown>> = a;
  const right: Readonly<Record<string, unknown>> = b;
  const names = new Set([...Object.keys(left), ...Object.keys(right)]);
  return [...names].filter((name) => left[name] !== right[name]).sort();
}
