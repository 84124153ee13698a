/**
 * Callers waiting for a condition on some state: each is woken at every change of that state
 * ({@link wake}) and checks its condition again, until it holds or its time is up.
 */
export class StateWaiters {
  readonly #waiters = new Set<() => void>()

  /** Resolves true once `condition` holds (checked at every {@link wake}), false after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs
    while (!condition()) {
      const left = deadline - performance.now()
      if (left <= 0 || !(await this.#next(left))) return condition()
    }
    return true
  }

  /** The state changed: every waiter checks its condition again. */
  wake(): void {
    for (const waiter of [...this.#waiters]) waiter()
  }

  /** Resolves true at the next wake, or false after `timeoutMs`. */
  #next(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#waiters.delete(done)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(done)
        resolve(false)
      }, timeoutMs)
      this.#waiters.add(done)
    })
  }
}
