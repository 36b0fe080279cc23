export {
  ModbusPool,
  type BreakerListener,
  type BreakerState,
  type BreakerStateChange,
  type ModbusBreakerOptions,
  type ModbusPoolHealth,
  type ModbusPoolOptions,
  type ModbusRetryOptions,
  type ModbusUnitClient,
  type ModbusUnitHealth,
  type ModbusUnitOptions,
} from './lib/pool';
export type { ModbusConnectionHealth, ReconnectOptions } from './lib/connection';
export {
  endpointKey,
  type ModbusEndpoint,
  type ModbusLinkTiming,
  type ModbusRtuEndpoint,
  type ModbusRtuOverTcpEndpoint,
  type ModbusTcpEndpoint,
  type ModbusTransport,
} from './lib/endpoint';
export {
  MAX_READ_BITS,
  MAX_READ_REGISTERS,
  MAX_WRITE_REGISTERS,
  type ModbusReadRange,
  type ModbusReadRequest,
  type ModbusRegisterWrite,
  type ModbusTable,
  type ModbusWriteRequest,
  type ModbusWriteResult,
} from './lib/requests';
export {
  CircuitOpenError,
  isModbusError,
  isRetryableExceptionCode,
  isRetryableModbusError,
  modbusExceptionName,
  ModbusConfigError,
  ModbusConnectionError,
  ModbusExceptionError,
  ModbusProtocolError,
  ModbusTimeoutError,
  type ModbusConnectionFailure,
  type ModbusError,
  type ModbusExceptionName,
} from './lib/errors';
export {
  discoverSunSpec,
  endpointOf,
  isModbusConnection,
  readBlocks,
  type ModbusConnection,
  type RegisterReader,
  type SunSpecChain,
} from './lib/device-io';
