import { STAT_NAMES, type BusStats } from '@voltimax/bus';
import type { HealthState } from './heartbeat';

/**
 * `GET /metrics` on the health port, in the Prometheus text exposition format (version 0.0.4). Every service
 * exports the same families, so one scrape config covers the gateway:
 *
 * - `voltimax_service_info{service,instance,version} 1` and `voltimax_service_status{service,status}` (one-hot)
 * - `voltimax_service_counter{service,counter}`: every heartbeat counter the service keeps — polls, reads,
 *   writes, rejects, `breaker.<asset>` (0 closed, 1 half-open, 2 open, 3 isolated), backlog …; the names are the
 *   service's own (its README lists them), so dashboards and heartbeats agree
 * - `voltimax_bus_messages_total{service,subject,event}`: the typed bus's per-subject counters (published,
 *   delivered, dropped invalid JSON/schema/subject, handler errors, rejected requests, invalid replies)
 * - `process_resident_memory_bytes`, `process_heap_used_bytes`, `process_cpu_seconds_total`,
 *   `process_uptime_seconds`, labelled with the service
 *
 * Written by hand rather than with a metrics library: the values already exist (heartbeat counters, bus stats,
 * process.*), the format is a few lines of text, and a second registry would double-count them.
 */
export interface MetricsInput {
  readonly service: string;
  readonly instanceId: string;
  readonly version: string;
  readonly state: HealthState;
  readonly bus: BusStats | undefined;
  readonly process: {
    readonly rssBytes: number;
    readonly heapUsedBytes: number;
    readonly cpuUserMicros: number;
    readonly cpuSystemMicros: number;
    readonly uptimeSeconds: number;
  };
}

/** A label value escaped per the exposition format: backslash, double quote and newline. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const labels = (pairs: Readonly<Record<string, string>>): string =>
  `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    .join(',')}}`;

/** A sample value as Prometheus reads it (`NaN`, `+Inf`, `-Inf` spelled its way). */
function sampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

const STATUSES = ['starting', 'ok', 'degraded', 'error', 'stopping'] as const;


/** The whole `/metrics` body. Pure: same input, same text. */
export function renderMetrics(input: MetricsInput): string {
  const service = input.service;
  const out: string[] = [];
  const family = (name: string, type: 'gauge' | 'counter', help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };

  family('voltimax_service_info', 'gauge', 'Service identity; always 1.');
  out.push(`voltimax_service_info${labels({ service, instance: input.instanceId, version: input.version })} 1`);

  family('voltimax_service_status', 'gauge', 'The status the service reports in its heartbeat (1 for the current one).');
  for (const status of STATUSES) {
    out.push(`voltimax_service_status${labels({ service, status })} ${input.state.status === status ? 1 : 0}`);
  }

  family('voltimax_service_assets', 'gauge', 'Assets this instance drives (drivers only).');
  out.push(`voltimax_service_assets${labels({ service })} ${input.state.assets?.length ?? 0}`);

  family('voltimax_service_counter', 'gauge', 'The heartbeat counters of the service, by name (see the service README).');
  for (const [counter, value] of [...input.state.counters].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`voltimax_service_counter${labels({ service, counter })} ${sampleValue(value)}`);
  }

  if (input.bus) {
    family('voltimax_bus_messages_total', 'counter', 'Typed bus messages by subject pattern and event since start.');
    for (const [subject, stats] of Object.entries(input.bus.subjects).sort(([a], [b]) => a.localeCompare(b))) {
      for (const event of STAT_NAMES) {
        out.push(`voltimax_bus_messages_total${labels({ service, subject, event })} ${stats[event]}`);
      }
    }
  }

  const p = input.process;
  family('process_resident_memory_bytes', 'gauge', 'Resident set size in bytes.');
  out.push(`process_resident_memory_bytes${labels({ service })} ${p.rssBytes}`);
  family('process_heap_used_bytes', 'gauge', 'V8 heap in use, bytes.');
  out.push(`process_heap_used_bytes${labels({ service })} ${p.heapUsedBytes}`);
  family('process_cpu_seconds_total', 'counter', 'User and system CPU time spent, seconds.');
  out.push(`process_cpu_seconds_total${labels({ service, mode: 'user' })} ${p.cpuUserMicros / 1e6}`);
  out.push(`process_cpu_seconds_total${labels({ service, mode: 'system' })} ${p.cpuSystemMicros / 1e6}`);
  family('process_uptime_seconds', 'gauge', 'Seconds since the process started.');
  out.push(`process_uptime_seconds${labels({ service })} ${p.uptimeSeconds}`);
  return `${out.join('\n')}\n`;
}
