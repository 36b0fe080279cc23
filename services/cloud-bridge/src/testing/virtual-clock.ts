import type { Scheduler } from '../scheduler';

interface Task {
  readonly id: number;
  readonly dueMs: number;
  readonly run: () => void | Promise<void>;
}

/**
 * A Scheduler whose clock is the wall clock plus an offset that `advance` moves forward: between advances time passes
 * as usual (so real services next to the bridge keep their pace), and `advance(24 h)` runs every timer due in that day
 * in order, each at its own instant, waiting for the task's promise before the next one (a loop re-arming itself
 * after async I/O keeps its cadence). Timers also fire by themselves when their instant comes in real time.
 */
export class VirtualClock implements Scheduler {
  private offsetMs = 0;
  private nextId = 1;
  private readonly tasks = new Map<number, Task>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private advancing = false;
  /** How many tasks ran (for a test's sanity checks). */
  ran = 0;

  private readonly autoRun: boolean;

  /** `autoRun: false`: timers run only inside `advance` (a test decides exactly when a poll happens). */
  constructor(opts: { readonly startMs?: number; readonly autoRun?: boolean } = {}) {
    this.offsetMs = (opts.startMs ?? Date.now()) - Date.now();
    this.autoRun = opts.autoRun ?? true;
  }

  now = (): number => Date.now() + this.offsetMs;

  after(ms: number, run: () => void | Promise<void>): () => void {
    const task = { id: this.nextId++, dueMs: this.now() + Math.max(0, ms), run };
    this.tasks.set(task.id, task);
    this.arm();
    return () => {
      this.tasks.delete(task.id);
      this.arm();
    };
  }

  /** Moves the clock `ms` ahead, running every task that comes due on the way (and those they schedule). */
  async advance(ms: number): Promise<void> {
    const targetMs = this.now() + ms;
    this.advancing = true;
    try {
      for (;;) {
        const next = this.earliest();
        if (next === undefined || next.dueMs > targetMs) break;
        this.offsetMs = Math.max(this.offsetMs, next.dueMs - Date.now());
        await this.runTask(next);
      }
      this.offsetMs = Math.max(this.offsetMs, targetMs - Date.now());
    } finally {
      this.advancing = false;
      this.arm();
    }
  }

  /** Tasks waiting, with how far ahead each is due, ms. */
  pending(): number[] {
    const nowMs = this.now();
    return [...this.tasks.values()].map((t) => t.dueMs - nowMs).sort((a, b) => a - b);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.tasks.clear();
  }

  private earliest(): Task | undefined {
    let best: Task | undefined;
    for (const task of this.tasks.values())
      if (best === undefined || task.dueMs < best.dueMs || (task.dueMs === best.dueMs && task.id < best.id))
        best = task;
    return best;
  }

  private async runTask(task: Task): Promise<void> {
    this.tasks.delete(task.id);
    this.ran += 1;
    try {
      await task.run();
    } catch {
      // A task's own error handling is the component's business; the clock goes on.
    }
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.advancing || !this.autoRun) return;
    const next = this.earliest();
    if (next === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        if (this.advancing) return;
        const due = this.earliest();
        if (due !== undefined && due.dueMs <= this.now()) void this.runTask(due).then(() => this.arm());
        else this.arm();
      },
      Math.max(0, next.dueMs - this.now()),
    );
  }
}
