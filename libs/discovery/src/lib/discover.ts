import type { Logger } from 'pino';
import { discoverBacnet, type BacnetDiscoveryOptions, type BacnetDiscoveryResult } from './bacnet';
import { mergeCandidates, type Candidate, type DiscoverySource } from './candidate';
import { browseMdns, type MdnsBrowseOptions, type MdnsBrowseResult } from './mdns/browse';
import { discoverHomeAssistant, type HaDiscoveryOptions, type HaDiscoveryResult } from './mqtt/collect';
import { scanModbus, type ModbusScanOptions, type ModbusScanResult } from './modbus/scan';

/** Which sources to run; an absent source is not run. */
export interface DiscoverOptions {
  readonly mdns?: MdnsBrowseOptions;
  readonly mqtt?: HaDiscoveryOptions;
  readonly modbus?: ModbusScanOptions;
  readonly bacnet?: BacnetDiscoveryOptions;
  readonly signal?: AbortSignal;
  readonly log?: Logger;
}

/** A discovery run: the merged candidates and each source's own result (or why it failed). */
export interface DiscoveryRun {
  /** De-duplicated across sources (serial, MAC, endpoint), most confident first. */
  readonly candidates: readonly Candidate[];
  readonly mdns?: MdnsBrowseResult;
  readonly mqtt?: HaDiscoveryResult;
  readonly modbus?: ModbusScanResult;
  readonly bacnet?: BacnetDiscoveryResult;
  readonly errors: readonly { readonly source: DiscoverySource; readonly message: string }[];
}

/**
 * Runs the requested sources at the same time and merges what they found. A source that fails (broker down, bad
 * range) is reported in `errors`; the others still deliver.
 */
export async function runDiscovery(options: DiscoverOptions): Promise<DiscoveryRun> {
  const errors: { source: DiscoverySource; message: string }[] = [];
  const settle = async <T>(source: DiscoverySource, run: (() => Promise<T>) | undefined): Promise<T | undefined> => {
    if (run === undefined) return undefined;
    try {
      return await run();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      options.log?.warn({ source, err }, 'discovery source failed');
      errors.push({ source, message });
      return undefined;
    }
  };
  const common = {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.log ? { log: options.log } : {}),
  };
  const [mdns, mqtt, modbus, bacnet] = await Promise.all([
    settle('mdns', options.mdns && (() => browseMdns({ ...common, ...options.mdns }))),
    settle(
      'mqtt',
      options.mqtt && (() => discoverHomeAssistant({ ...common, ...(options.mqtt as HaDiscoveryOptions) })),
    ),
    settle('modbus', options.modbus && (() => scanModbus({ ...common, ...(options.modbus as ModbusScanOptions) }))),
    settle(
      'bacnet',
      options.bacnet && (() => discoverBacnet({ ...common, ...(options.bacnet as BacnetDiscoveryOptions) })),
    ),
  ]);
  const candidates = mergeCandidates([
    ...(mdns?.candidates ?? []),
    ...(mqtt?.candidates ?? []),
    ...(modbus?.candidates ?? []),
    ...(bacnet?.candidates ?? []),
  ]);
  return {
    candidates,
    ...(mdns ? { mdns } : {}),
    ...(mqtt ? { mqtt } : {}),
    ...(modbus ? { modbus } : {}),
    ...(bacnet ? { bacnet } : {}),
    errors,
  };
}
