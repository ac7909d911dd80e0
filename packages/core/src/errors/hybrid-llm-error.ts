const marker = "hybrid-llm.error";
const symbol = Symbol.for(marker);

/**
 * Base class of every error this project throws on purpose.
 *
 * `instanceof` fails when two copies of the package are loaded (two bundles, a worker and its host), so each
 * error class also carries a `Symbol.for` marker and a static `isInstance` that checks the marker.
 */
export class HybridLlmError extends Error {
  private readonly [symbol] = true;

  constructor({ name, message, cause }: { name: string; message: string; cause?: unknown }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = name;
  }

  /** True for any error thrown by hybrid-llm, whichever copy of the package threw it. */
  static isInstance(error: unknown): error is HybridLlmError {
    return HybridLlmError.hasMarker(error, marker);
  }

  protected static hasMarker(error: unknown, markerName: string): boolean {
    const markerSymbol = Symbol.for(markerName);
    return (
      error != null &&
      typeof error === "object" &&
      markerSymbol in error &&
      (error as Record<symbol, unknown>)[markerSymbol] === true
    );
  }
}
