/**
 * Runs one piece of background work at a time, with requests coalesced: a request while a run is in
 * progress makes exactly one more run follow it, however many requests came. For passes that look at the
 * current state (promote what is due, trim what is over a limit), where running once more after the last
 * request is enough and running concurrently would only contend for the same pages.
 */
export class CoalescedRun {
  private current: Promise<void> | null = null;
  private again = false;

  /** `work` must not reject: it handles (counts, logs) its own failures. */
  constructor(private readonly work: () => Promise<void>) {}

  request(): void {
    if (this.current !== null) {
      this.again = true;
      return;
    }
    this.current = this.work().finally(() => {
      this.current = null;
      if (this.again) {
        this.again = false;
        this.request();
      }
    });
  }

  /** Settles once no run is in progress, including the one a request during the last run started. */
  async idle(): Promise<void> {
    while (this.current !== null) await this.current;
  }
}
