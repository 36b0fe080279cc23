import { BusRequestFailedError } from './errors';
import type { BusHeaders } from './trace';
import type { BusTransport, RawMessage } from './transport';

/** NATS subject matching: `*` matches one token, a trailing `>` one or more. */
export function subjectMatches(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < f.length; i++) {
    const token = f[i];
    if (token === '>') return s.length > i;
    const part = s[i];
    if (part === undefined) return false;
    if (token !== '*' && token !== part) return false;
  }
  return f.length === s.length;
}

/** One message that crossed the in-memory broker. */
export interface RecordedMessage {
  readonly subject: string;
  /** The body as UTF-8 text (may be invalid JSON when injected raw). */
  readonly body: string;
  readonly headers: BusHeaders;
  readonly isRequest: boolean;
}

interface MemorySubscription {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly onMessage: (msg: RawMessage) => void | Promise<void>;
}

type Responder = (data: Uint8Array, headers: BusHeaders) => void;

const decoder = new TextDecoder();

/** A broker in memory with NATS semantics (wildcards, queue groups, request/reply, no responders). */
export class MemoryBroker {
  private readonly subs = new Set<MemorySubscription>();
  private readonly queueTurns = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  private readonly recorded: RecordedMessage[] = [];

  /** Every publish and request, in order (replies are not recorded). */
  get messages(): readonly RecordedMessage[] {
    return this.recorded;
  }

  /** Resolves when every handler started so far (and every handler those started) has settled. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Delivers synchronously to every matching subscriber (one per queue group); returns how many got it. */
  deliver(subject: string, data: Uint8Array, headers: BusHeaders, responder: Responder | undefined): number {
    this.recorded.push({ subject, body: decoder.decode(data), headers: { ...headers }, isRequest: !!responder });
    const targets = this.pickTargets(subject);
    for (const sub of targets) {
      let answered = false;
      const msg: RawMessage = {
        subject,
        data: data.slice(),
        headers: { ...headers },
        hasReply: !!responder,
        respond(replyData, replyHeaders) {
          if (!responder || answered) return;
          answered = true;
          responder(replyData.slice(), { ...replyHeaders });
        },
      };
      const result = sub.onMessage(msg);
      if (result instanceof Promise) {
        const tracked = result.finally(() => this.pending.delete(tracked));
        this.pending.add(tracked);
      }
    }
    return targets.length;
  }

  private pickTargets(subject: string): MemorySubscription[] {
    const plain: MemorySubscription[] = [];
    const groups = new Map<string, MemorySubscription[]>();
    for (const sub of this.subs) {
      if (!subjectMatches(sub.subject, subject)) continue;
      if (sub.queue === undefined) {
        plain.push(sub);
      } else {
        const members = groups.get(sub.queue) ?? [];
        members.push(sub);
        groups.set(sub.queue, members);
      }
    }
    for (const [queue, members] of groups) {
      const turn = this.queueTurns.get(queue) ?? 0;
      this.queueTurns.set(queue, turn + 1);
      const chosen = members[turn % members.length];
      if (chosen) plain.push(chosen);
    }
    return plain;
  }

  /** A transport (one "connection") on this broker. */
  transport(): BusTransport {
    return {
      publish: (subject, data, headers) => {
        this.deliver(subject, data, headers, undefined);
      },
      subscribe: (subject, opts, onMessage) => {
        const sub: MemorySubscription = { subject, queue: opts.queue, onMessage };
        this.subs.add(sub);
        return { unsubscribe: () => this.subs.delete(sub) };
      },
      request: (subject, data, headers, timeoutMs) =>
        new Promise<RawMessage>((resolve, reject) => {
          let done = false;
          const timer = setTimeout(() => {
            done = true;
            reject(new BusRequestFailedError(subject, 'timeout', timeoutMs));
          }, timeoutMs);
          const count = this.deliver(subject, data, headers, (replyData, replyHeaders) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve({
              subject,
              data: replyData,
              headers: replyHeaders,
              hasReply: false,
              respond: () => undefined,
            });
          });
          if (count === 0 && !done) {
            done = true;
            clearTimeout(timer);
            reject(new BusRequestFailedError(subject, 'no-responders', timeoutMs));
          }
        }),
    };
  }
}
