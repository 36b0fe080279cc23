// Test helpers of @voltimax/driver-bacnet (`@voltimax/driver-bacnet/testing`): simulated BACnet/IP devices on loopback.
export {
  npduDestination,
  SimulatedBacnetDevice,
  type SimObjectInit,
  type SimRequest,
  type SimSubscription,
  type SimulatedDeviceOptions,
} from './testing/simulated-device';
export { bacnetAssetConfig, startBacnetDriver, type DriverHarness, type LoggedLine } from './testing/driver-harness';
