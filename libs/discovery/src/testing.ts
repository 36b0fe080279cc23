// Test helpers of @voltimax/discovery for other projects' specs (`@voltimax/discovery/testing`): devices on chosen
// loopback addresses and the register maps and Home Assistant payloads the discovery tests use.
export {
  startPeerOn,
  startResetServer,
  startSilentServer,
  type FaultServer,
  type HostPeer,
} from './lib/testing/devices';
export * from './lib/testing/peer-maps';
export * from './lib/testing/ha-payloads';
