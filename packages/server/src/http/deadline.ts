/** `promise`, or what `onLate` gives when it has not settled by `deadline` (a performance.now() time). */
export async function withDeadline<T>(promise: Promise<T>, deadline: number, onLate: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), Math.max(0, deadline - performance.now()))));
  try {
    const first = await Promise.race([promise, late]);
    return first === "late" ? await onLate() : (first as T);
  } finally {
    clearTimeout(timer);
  }
}
