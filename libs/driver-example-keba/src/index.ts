// @voltimax/driver-example-keba: the worked example of a driver-host plugin (libs/driver-sdk/README.md, "Writing a
// driver"): KEBA KeContact P30 charging stations over their public UDP protocol. The host loads the `driver` export.
export { kebaDriver as driver, kebaDriver, KebaAssetOptions, KebaHostOptions, KEBA_DRIVER_VERSION } from './lib/driver';
export {
  KEBA_PORT,
  chargerState,
  commandedCurrentMa,
  currentCommand,
  measurements,
  parseDatagram,
  type Datagram,
  type ReportFields,
} from './lib/protocol';
