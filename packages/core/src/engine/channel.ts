/**
 * An unbounded single-consumer async queue: the engine pushes parts, the caller iterates them. A consumer that
 * stops early (`break` out of `for await`, or `return()`) triggers `onAbandon` — the engine cancels the request.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  private closed = false;

  /** @param onAbandon called once when the consumer stops iterating before the channel was closed */
  constructor(private onAbandon: (() => void) | undefined = undefined) {}

  push(item: T): void {
    if (this.closed) return;
    if (this.waiting !== undefined) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  close(): void {
    this.closed = true;
    this.onAbandon = undefined;
    if (this.waiting !== undefined) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
      return: () => {
        const abandon = this.onAbandon;
        this.items.length = 0;
        this.close();
        abandon?.();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
