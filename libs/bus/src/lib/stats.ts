/** Counters for one subject definition (keyed by its pattern, e.g. `telemetry.{assetId}`). All counts since start. */
export interface SubjectStats {
  /** Valid messages sent (publish and request). */
  readonly published: number;
  /** Outbound payloads refused by the schema (nothing sent; a bug on our side). */
  readonly publishRejected: number;
  /** Valid messages handed to a handler (subscribe and reply). */
  readonly delivered: number;
  /** Inbound messages dropped: body was not UTF-8 JSON. */
  readonly droppedInvalidJson: number;
  /** Inbound messages dropped: JSON did not match the schema. */
  readonly droppedInvalidSchema: number;
  /** Inbound messages dropped: the concrete subject did not match the pattern (e.g. an upper-case token). */
  readonly droppedInvalidSubject: number;
  /**
   * Inbound messages dropped: the NATS server delivered them out of a JetStream stream (a push consumer or a
   * republish aimed at this subject), a path on which it checks no publish permission. Nothing of ours does that,
   * so each one is someone routing around the subject grants (e.g. a device write no arbiter sent).
   */
  readonly droppedFromStream: number;
  /** reply(): requests whose reply subject is not a reply inbox (`_INBOX…`), neither handled nor answered. */
  readonly droppedForeignReply: number;
  /** Handlers that threw or rejected. */
  readonly handlerErrors: number;
  /** reply(): requests answered with a `Voltimax-Error` header instead of a reply. */
  readonly requestsRejected: number;
  /** request(): replies that failed the reply schema; reply(): our handler returned an invalid reply. */
  readonly invalidReplies: number;
}

/** A snapshot of the bus counters: per subject pattern and summed. */
export interface BusStats {
  readonly subjects: Readonly<Record<string, SubjectStats>>;
  readonly totals: SubjectStats;
}

/** The names of the counters in {@link SubjectStats}. */
export type StatName = keyof SubjectStats;

/** Every counter of {@link SubjectStats}, in a stable order (metrics export them in it). */
export const STAT_NAMES: readonly StatName[] = [
  'published',
  'publishRejected',
  'delivered',
  'droppedInvalidJson',
  'droppedInvalidSchema',
  'droppedInvalidSubject',
  'droppedFromStream',
  'droppedForeignReply',
  'handlerErrors',
  'requestsRejected',
  'invalidReplies',
];

type MutableStats = { -readonly [K in StatName]: number };

function zero(): MutableStats {
  return {
    published: 0,
    publishRejected: 0,
    delivered: 0,
    droppedInvalidJson: 0,
    droppedInvalidSchema: 0,
    droppedInvalidSubject: 0,
    droppedFromStream: 0,
    droppedForeignReply: 0,
    handlerErrors: 0,
    requestsRejected: 0,
    invalidReplies: 0,
  };
}

/** Mutable counters behind `bus.stats()`. */
export class StatsRecorder {
  private readonly bySubject = new Map<string, MutableStats>();

  increment(pattern: string, name: StatName): void {
    let entry = this.bySubject.get(pattern);
    if (!entry) {
      entry = zero();
      this.bySubject.set(pattern, entry);
    }
    entry[name] += 1;
  }

  snapshot(): BusStats {
    const subjects: Record<string, SubjectStats> = {};
    const totals = zero();
    for (const [pattern, entry] of this.bySubject) {
      subjects[pattern] = { ...entry };
      for (const name of STAT_NAMES) totals[name] += entry[name];
    }
    return { subjects, totals };
  }
}

/** Inbound messages dropped for any reason (invalid JSON, schema or subject). */
export function droppedTotal(stats: SubjectStats): number {
  return (
    stats.droppedInvalidJson +
    stats.droppedInvalidSchema +
    stats.droppedInvalidSubject +
    stats.droppedFromStream +
    stats.droppedForeignReply
  );
}
