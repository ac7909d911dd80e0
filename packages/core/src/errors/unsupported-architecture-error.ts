import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "UnsupportedArchitectureError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** The model's `general.architecture` has no cache rules in hybrid-llm (yet). */
export class UnsupportedArchitectureError extends HybridLlmError {
  private readonly [symbol] = true;

  /** The architecture name as written in the file (`general.architecture`). */
  readonly architecture: string;

  constructor({ architecture, supported }: { architecture: string; supported: readonly string[] }) {
    super({
      name,
      message: `Unsupported model architecture "${architecture}". Supported: ${supported.join(", ")}.`,
    });
    this.architecture = architecture;
  }

  static override isInstance(error: unknown): error is UnsupportedArchitectureError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
