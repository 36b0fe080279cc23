export {
  candidateId,
  describeAddress,
  finishCandidate,
  identityKeys,
  mergeCandidates,
  normalizeMac,
  toDiscoveryFound,
  type Candidate,
  type CandidateDraft,
  type CandidateIdentity,
  type CandidateSensor,
  type DiscoverySource,
  type DriverHint,
} from './lib/candidate';
export {
  HOMEWIZARD_P1_PROFILE_ID,
  MDNS_SERVICE_TYPES,
  mapMdnsService,
  pickAddress,
  type MdnsHint,
  type MdnsOutcome,
  type MdnsServiceRecord,
} from './lib/mdns/services';
export { browseMdns, toServiceRecord, type MdnsBrowseOptions, type MdnsBrowseResult } from './lib/mdns/browse';
export {
  commonTopicPrefix,
  HA_DISCOVERY_TOPICS,
  haCandidates,
  parseHaConfig,
  simpleJsonPath,
  type HaConfigOutcome,
  type ParsedSensor,
} from './lib/mqtt/ha-discovery';
export {
  discoverHomeAssistant,
  MqttDiscoveryError,
  type HaDiscoveryOptions,
  type HaDiscoveryResult,
} from './lib/mqtt/collect';
export { CidrError, cidrHosts, MAX_SCAN_HOSTS } from './lib/modbus/cidr';
export {
  FINGERPRINTS,
  tryFingerprint,
  type Fingerprint,
  type FingerprintCheck,
  type FingerprintResult,
} from './lib/modbus/fingerprints';
export { interrogateSunSpec, kindOfModels, type SunSpecIdentity } from './lib/modbus/sunspec';
export {
  DEFAULT_SCAN_PORTS,
  DEFAULT_SCAN_UNIT_IDS,
  scanModbus,
  type ModbusScanOptions,
  type ModbusScanResult,
  type PortOutcome,
  type PortReport,
  type ScanProgress,
  type UnitReport,
} from './lib/modbus/scan';
export { runDiscovery, type DiscoverOptions, type DiscoveryRun } from './lib/discover';
export {
  BacnetDiscoveryError,
  discoverBacnet,
  type BacnetDeviceReport,
  type BacnetDiscoveryOptions,
  type BacnetDiscoveryResult,
} from './lib/bacnet';
export { BACNET_DRIVER_HINT, bacnetCandidate, guessBacnetKind } from './lib/bacnet-candidates';
export {
  optionsFromRequest,
  publishCandidates,
  startDiscoveryResponder,
  type DiscoveryResponder,
  type DiscoveryResponderOptions,
  type ResponderDefaults,
} from './lib/bus';
