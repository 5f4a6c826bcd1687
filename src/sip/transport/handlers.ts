/**
 * A small list of handlers. A handler that throws never breaks the transport: the error goes to
 * `onThrow` and the remaining handlers still run.
 */
export class HandlerSet<A extends unknown[]> {
  private handlers: Array<(...args: A) => void> = [];

  constructor(private readonly onThrow: (error: unknown) => void) {}

  /** Adds `handler`; the returned function removes it. */
  add(handler: (...args: A) => void): () => void {
    this.handlers = [...this.handlers, handler];
    return () => {
      this.handlers = this.handlers.filter((h) => h !== handler);
    };
  }

  get size(): number {
    return this.handlers.length;
  }

  emit(...args: A): void {
    for (const handler of this.handlers) {
      try {
        handler(...args);
      } catch (error) {
        this.onThrow(error);
      }
    }
  }
}
