import type { EmergencyStop } from '@voltimax/contracts';

/**
 * The emergency-stop latch. Once engaged it stays engaged until an explicit release arrives: time passing,
 * restarts of other services or a new intent never release it.
 */
export interface EstopState {
  readonly engaged: boolean;
  /**
   * When the latch was last engaged, epoch ms (the newest engage of the current latch: a release must not be older).
   * Undefined for a latch of unknown origin (restored from a truncated history): any release releases it.
   */
  readonly engagedAtMs?: number;
  /** Who engaged it and why (from the `safety.estop` message). */
  readonly engagedBy?: string;
  readonly engagedReason?: string;
  /** When the latch was last released, epoch ms. */
  readonly releasedAtMs?: number;
  readonly releasedBy?: string;
}

/** The released latch (nothing engaged yet). */
export const ESTOP_RELEASED: EstopState = { engaged: false };

/**
 * The latch after one `safety.estop` event. `engage` always engages (a repeated engage keeps the original
 * author and reason, and moves the engage time to the newer of the two). `release` releases only an engaged latch,
 * and only if the release is not older than the newest engage: a delayed or replayed release from before an engage
 * is ignored, and so is a release without a finite time.
 */
export function applyEstop(
  state: EstopState,
  event: Pick<EmergencyStop, 'action' | 'by' | 'reason' | 'atMs'>,
): EstopState {
  if (event.action === 'engage') {
    if (state.engaged) {
      const newer = Number.isFinite(event.atMs) && (state.engagedAtMs === undefined || event.atMs > state.engagedAtMs);
      return newer ? { ...state, engagedAtMs: event.atMs } : state;
    }
    return {
      engaged: true,
      engagedAtMs: event.atMs,
      engagedBy: event.by,
      engagedReason: event.reason,
      ...(state.releasedAtMs === undefined ? {} : { releasedAtMs: state.releasedAtMs }),
      ...(state.releasedBy === undefined ? {} : { releasedBy: state.releasedBy }),
    };
  }
  if (!state.engaged) return state;
  if (!Number.isFinite(event.atMs)) return state;
  if (state.engagedAtMs !== undefined && Number.isFinite(state.engagedAtMs) && event.atMs < state.engagedAtMs)
    return state;
  return { engaged: false, releasedAtMs: event.atMs, releasedBy: event.by };
}
