import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@voltimax/bus';
import { formatIssues, kvBuckets, SiteConfigSchema, type SiteConfig } from '@voltimax/contracts';
import type { Logger } from 'pino';

/** What KV `config` holds under the key. */
export type KvSite =
  | { readonly kind: 'site'; readonly site: SiteConfig }
  | { readonly kind: 'absent' }
  | { readonly kind: 'invalid'; readonly problems: string };

const decoder = new TextDecoder();

/**
 * Reads the site configuration from KV `config` (read-only; docker/nats/nats.conf grants the dashboard KV reads of
 * `config`). `absent` when the bucket or key does not exist (`voltimax bus init` creates the bucket), `invalid` when the value
 * fails SiteConfigSchema (the strategy engine refuses it too).
 */
export async function readKvSite(nc: NatsConnection, key: string, log: Logger): Promise<KvSite> {
  let entryBytes: Uint8Array | undefined;
  try {
    const kv = await new Kvm(nc).open(kvBuckets.config);
    await kv.status();
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') return { kind: 'absent' };
    entryBytes = entry.value;
  } catch (err) {
    log.debug({ err, bucket: kvBuckets.config }, 'kv config not available');
    return { kind: 'absent' };
  }
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(entryBytes));
  } catch {
    return { kind: 'invalid', problems: '$: not JSON' };
  }
  const parsed = SiteConfigSchema.safeParse(json);
  if (!parsed.success) {
    return {
      kind: 'invalid',
      problems: formatIssues(parsed.error.issues)
        .slice(0, 5)
        .map((p) => `${p.path}: ${p.message}`)
        .join('; '),
    };
  }
  return { kind: 'site', site: parsed.data };
}
