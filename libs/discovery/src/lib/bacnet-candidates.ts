// BACnet devices (I-Am + device object properties) as candidate assets. Pure: no I/O.
import type { AssetKind } from '@voltimax/contracts';
import type { DeviceIdentity, IAmReport } from '@voltimax/driver-bacnet';
import { finishCandidate, type Candidate, type DriverHint } from './candidate';

/** The site `drivers` entry a BACnet asset needs. */
export const BACNET_DRIVER_HINT: DriverHint = { name: 'bacnet', module: '@voltimax/driver-bacnet' };

const SEGMENTATION = ['both', 'transmit', 'receive', 'none'];

/** What a kind guess looks for in the device's names (BACnet says nothing about what a device is). */
const KIND_WORDS: readonly { readonly kind: AssetKind; readonly pattern: RegExp }[] = [
  { kind: 'battery', pattern: /\b(batter(y|ies)|bess|ess|energy storage|storage)\b/i },
  { kind: 'ev-charger', pattern: /\b(ev|charger|charge point|wallbox|evse)\b/i },
  { kind: 'pv-inverter', pattern: /\b(pv|solar|photovoltaic|inverter)\b/i },
  { kind: 'meter', pattern: /\b(meter|energy analy[sz]er|power analy[sz]er)\b/i },
];

/**
 * The asset kind a device's names suggest; `load` (a building automation controller: HVAC, lighting) when they
 * suggest nothing. `guessed` says whether a word matched.
 */
export function guessBacnetKind(identity: Pick<DeviceIdentity, 'objectName' | 'modelName' | 'vendorName'>): {
  readonly kind: AssetKind;
  readonly guessed: boolean;
} {
  const text = [identity.objectName, identity.modelName, identity.vendorName].filter(Boolean).join(' ');
  const hit = KIND_WORDS.find((k) => k.pattern.test(text));
  return hit ? { kind: hit.kind, guessed: true } : { kind: 'load', guessed: false };
}

function hex(bytes: readonly number[]): string {
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * A candidate for a device that answered Who-Is: connection `plugin`/`bacnet` with its address, instance (and
 * network/MAC when routed), the `drivers` entry it needs, identity from the device object. It has no profile and no
 * points: which objects carry power or SoC is the installer's to map, so `--apply` cannot add it as it is. The key is
 * the device instance, unique on a BACnet internetwork, so one device heard on two paths is one candidate.
 */
export function bacnetCandidate(
  iAm: IAmReport,
  identity: DeviceIdentity | undefined,
  identityError?: string,
): Candidate {
  const { device } = iAm;
  const host = device.address.split(':')[0] ?? device.address;
  const routed = device.net !== undefined;
  const { kind, guessed } = guessBacnetKind(identity ?? {});
  const name = identity?.objectName ?? `device ${iAm.deviceInstance}`;
  const product = [identity?.vendorName, identity?.modelName].filter(Boolean).join(' ');
  const evidence = [
    `I-Am from ${device.address}: device ${iAm.deviceInstance}, vendor id ${iAm.vendorId}, max APDU ${iAm.maxApdu}, segmentation ${SEGMENTATION[iAm.segmentation] ?? iAm.segmentation}`,
    ...(routed ? [`behind a BACnet router: network ${device.net}, MAC ${hex(device.adr ?? [])}`] : []),
    ...(identity
      ? [
          `device object: name '${identity.objectName ?? '?'}', vendor '${identity.vendorName ?? '?'}', model '${identity.modelName ?? '?'}'` +
            `${identity.firmwareRevision ? `, firmware ${identity.firmwareRevision}` : ''}` +
            `${identity.objectCount === undefined ? '' : `, ${identity.objectCount} objects`}`,
          ...identity.missing.map((m) => `not readable: ${m}`),
        ]
      : [`device object not readable: ${identityError ?? 'no answer'}`]),
    guessed ? `kind ${kind} guessed from its names` : 'kind unknown (no energy words in its names): proposed as a load',
    'map its objects to measurements (connection.options.points) before adding it; the site needs the bacnet driver',
  ];
  return finishCandidate({
    source: 'bacnet',
    kind,
    connection: {
      protocol: 'plugin',
      driver: BACNET_DRIVER_HINT.name,
      options: {
        address: device.address,
        deviceInstance: iAm.deviceInstance,
        ...(routed ? { network: { number: device.net, mac: hex(device.adr ?? []) } } : {}),
      },
    },
    identity: {
      ...(identity?.vendorName ? { manufacturer: identity.vendorName } : {}),
      ...(identity?.modelName ? { model: identity.modelName } : {}),
      host,
      deviceId: `device-${iAm.deviceInstance}`,
    },
    confidence: identity ? (guessed ? 0.5 : 0.4) : 0.3,
    evidence,
    drivers: [BACNET_DRIVER_HINT],
    label: `${name}${product ? ` (${product})` : ''}, BACnet device ${iAm.deviceInstance} at ${device.address}`,
  });
}
