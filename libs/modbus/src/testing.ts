// Test helpers of @voltimax/modbus for other projects' specs (`@voltimax/modbus/testing`; lint allows it in spec and
// testing files only). Integration tests talk to an independent Modbus implementation, never to our own code.

/**
 * The independent pymodbus peer (`../shared/tools/modbus-peer`, Debian python3-pymodbus): {@link startPeer} serves a
 * register map over Modbus TCP (default), RTU over TCP or a serial pty, on a free or fixed port, with a map that can
 * be replaced while it runs ({@link Peer.updateMap} with `watchS`). {@link startPtyPair} links two ptys with socat
 * for serial tests ({@link hasSocat} tells whether socat is installed).
 */
export {
  hasSocat,
  PEER_PYTHON,
  PEER_SCRIPT,
  startPeer,
  startPtyPair,
  type Peer,
  type PeerOptions,
  type PtyPair,
} from './testing/peer';
/** A TCP port on 127.0.0.1 that nothing listens on (just freed): a device that is down. */
export { closedPort } from './testing/fault-server';
/** Polls a condition until it holds or a timeout passes. */
export { waitFor } from './testing/wait';
