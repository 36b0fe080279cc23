import type { CommandChannel, DeferredReply, LinkStatus, RejectedCommand } from '@voltimax/cloud';
import type { Logger } from 'pino';
import type { BridgeHealth } from './bridge-health';

/**
 * Offline mode, as seen from the heartbeat: the transport's LinkStatus becomes the problem `cloud offline since
 * <ISO time> (<reason>)` (status `degraded`) until it is online again, and the counters `cloudOnline` (0/1),
 * `cloudOfflineSinceMs` (0 when online), `cloudDisconnects`, `pendingReplies`, `repliesDeliveredLate`,
 * `repliesExpired`, `commandsRejected`. Nothing else depends on the link: every local function keeps running.
 */
export interface LinkWatch {
  /** Refresh the counters that change without an event (pending replies). */
  refresh(): void;
}

export function watchLink(
  channel: CommandChannel,
  deps: { readonly log: Logger; readonly health: BridgeHealth },
): LinkWatch {
  const { log, health } = deps;
  let offlineSinceMs: number | undefined;
  let offlineReason: string | undefined;

  const apply = (status: LinkStatus): void => {
    if (status.state === 'online') {
      if (offlineSinceMs !== undefined) {
        log.info(
          { offlineSinceMs, offlineForMs: status.sinceMs - offlineSinceMs, pendingReplies: channel.pendingReplies() },
          'cloud link online again',
        );
      } else {
        log.info('cloud link online');
      }
      offlineSinceMs = undefined;
      offlineReason = undefined;
      health.setProblem('cloud', undefined);
    } else if (status.state === 'offline') {
      if (offlineSinceMs === undefined) {
        offlineSinceMs = status.sinceMs;
        health.count('cloudDisconnects');
        log.warn(
          { reason: status.reason, since: new Date(status.sinceMs).toISOString() },
          'cloud link offline; local control continues',
        );
      }
      offlineReason = status.reason ?? offlineReason;
    }
    // 'connecting' between two offline spells keeps the offline problem; 'closed' is our own shutdown.
    if (offlineSinceMs !== undefined) {
      health.setProblem(
        'cloud',
        `cloud offline since ${new Date(offlineSinceMs).toISOString()}${offlineReason === undefined ? '' : ` (${offlineReason.slice(0, 200)})`}`,
      );
    }
    health.set('cloudOnline', status.state === 'online' ? 1 : 0);
    health.set('cloudOfflineSinceMs', offlineSinceMs ?? 0);
    health.set('pendingReplies', channel.pendingReplies());
  };

  channel.onStatus(apply);
  channel.onRejected((rejected: RejectedCommand) => {
    health.count('commandsRejected');
    log.warn(
      { reason: rejected.reason, correlationId: rejected.correlationId, messageType: rejected.messageType },
      'cloud message refused',
    );
  });
  channel.onDeferredReply((reply: DeferredReply) => {
    health.count(reply.outcome === 'delivered' ? 'repliesDeliveredLate' : 'repliesExpired');
    const fields = {
      correlationId: reply.correlationId,
      messageType: reply.messageType,
      queuedForMs: reply.atMs - reply.queuedAtMs,
    };
    if (reply.outcome === 'delivered') log.info(fields, 'reply held while offline delivered');
    else log.warn(fields, 'reply held while offline expired undelivered');
    health.set('pendingReplies', channel.pendingReplies());
  });
  apply(channel.status());
  return { refresh: () => health.set('pendingReplies', channel.pendingReplies()) };
}
