/** 2025-01-01T00:00:00Z: transaction ids count seconds from here (int32 lasts until 2093). */
export const TRANSACTION_EPOCH_MS = Date.UTC(2025, 0, 1);

/** Hands out transaction ids; `seen` raises the floor past ids charge points report (sessions of an earlier run). */
export interface TransactionIds {
  next(): number;
  seen(id: number): void;
}

/**
 * OCPP 1.6 transaction ids (integers the central system assigns). Nothing is stored, yet ids stay unique across
 * restarts: an id is the number of seconds since {@link TRANSACTION_EPOCH_MS}, or the last id + 1 if that is not
 * larger, and the first id of a process is above the second it started in. A restarted central system therefore
 * never hands out an id of an earlier run, as long as that run started fewer sessions than seconds passed (at most
 * one per second on average); ids that charge points report are skipped as well.
 */
export function transactionIds(now: () => number): TransactionIds {
  const seconds = () => Math.floor((now() - TRANSACTION_EPOCH_MS) / 1000);
  let last = seconds();
  return {
    next() {
      last = Math.max(last + 1, seconds());
      return last;
    },
    seen(id) {
      if (Number.isSafeInteger(id) && id > last && id < 2 ** 31) last = id;
    },
  };
}
