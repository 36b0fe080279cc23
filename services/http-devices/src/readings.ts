import type { Bus } from '@voltimax/bus';
import { subjects, type AssetReading } from '@voltimax/contracts';
import type { Logger } from 'pino';
import type { OwnedAsset } from './assets';

type ChargerState = NonNullable<AssetReading['chargerState']>;

/** What varies between readings of one asset. */
export type ReadingFields = Pick<AssetReading, 'atMs' | 'quality' | 'values' | 'error' | 'chargerState'>;

/**
 * IEC 61851 control-pilot state (its ASCII letter 'A'…'F' as a number, as the profiles decode it) → the contracts'
 * connector state; undefined for anything else (e.g. Peblar's "Invalid").
 */
export function chargerStateFromCp(cpState: number | string | undefined): ChargerState | undefined {
  switch (typeof cpState === 'number' ? String.fromCharCode(cpState) : undefined) {
    case 'A':
      return 'available';
    case 'B':
      return 'suspended';
    case 'C':
    case 'D':
      return 'charging';
    case 'E':
      return 'unavailable';
    case 'F':
      return 'faulted';
    default:
      return undefined;
  }
}

/**
 * Publishes `telemetry.<assetId>` (validated by the bus) and advances the asset's sequence, which counts every
 * reading from 0 and restarts with the process. A publish that fails validation is a bug here: logged, not thrown.
 */
export function publishReading(
  bus: Pick<Bus, 'publish'>,
  asset: Pick<OwnedAsset, 'id' | 'kind'>,
  sequence: { next: number },
  fields: ReadingFields,
  log: Logger,
): void {
  const reading: AssetReading = {
    v: 1,
    assetId: asset.id,
    kind: asset.kind,
    atMs: fields.atMs,
    sequence: sequence.next,
    quality: fields.quality,
    values: fields.values,
    ...(fields.error === undefined ? {} : { error: fields.error }),
    ...(fields.chargerState === undefined ? {} : { chargerState: fields.chargerState }),
  };
  try {
    bus.publish(subjects.telemetry, { assetId: asset.id }, reading);
    sequence.next += 1;
  } catch (err) {
    log.error({ err }, 'telemetry publish failed');
  }
}
