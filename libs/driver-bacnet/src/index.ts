// @voltimax/driver-bacnet: the BACnet/IP protocol plugin. The driver host loads the default export (also exported
// as `driver`); the rest is for discovery and tools that speak BACnet/IP too.
import { bacnetDriver } from './lib/driver';

export default bacnetDriver;
export { bacnetDriver, bacnetDriver as driver, BACNET_DRIVER_VERSION } from './lib/driver';
export {
  BacnetAssetOptionsSchema,
  BacnetHostOptionsSchema,
  isIpv4Endpoint,
  macBytes,
  type BacnetAssetOptions,
  type BacnetAssetOptionsInput,
  type BacnetHostOptions,
  type BacnetHostOptionsInput,
  type PointOptions,
  type SetpointOptions,
} from './lib/options';
export {
  describeDevice,
  openBacnetLink,
  type BacnetLink,
  type BacnetLinkOptions,
  type DeviceAddress,
  type IAmReport,
} from './lib/link';
export { readDeviceIdentity, type DeviceIdentity } from './lib/identity';
export {
  BacnetAbortedError,
  BacnetErrorResponse,
  BacnetPointError,
  BacnetRefusedError,
  BacnetTimeoutError,
} from './lib/errors';
export {
  formatObjectRef,
  MAX_OBJECT_INSTANCE,
  objectTypeName,
  parseObjectRef,
  POINT_OBJECT_TYPES,
  type ObjectRef,
} from './lib/object-ref';
export { toDeviceValue, toOurValue, type ValueMapping } from './lib/mapping';
export { BACNET_PORT } from './lib/transport';
