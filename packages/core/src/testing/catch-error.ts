/** Runs `f` and returns what it threw; fails the test when it did not throw. For unit tests. */
export function catchError(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}
