import { HybridLlmError, InvalidGgufError, ModelMetadataError } from "@hybrid-llm/core";
import type { SerializedError } from "./protocol.js";

/** Worker side: an error into plain data. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const fields: Record<string, unknown> = {};
    for (const key of ["code", "argument", "object", "offset", "architecture", "key", "option", "path", "problem"]) {
      const value = (error as unknown as Record<string, unknown>)[key];
      if (value !== undefined) fields[key] = value;
    }
    // Strip the prefixes the constructors add, so rebuilding does not repeat them.
    let message = error.message;
    if (InvalidGgufError.isInstance(error)) message = message.replace(/^Invalid GGUF at byte \d+: /, "");
    if (ModelMetadataError.isInstance(error)) message = message.replace(/^Model metadata "[^"]*": /, "");
    return { name: HybridLlmError.isInstance(error) ? error.name : "Error", message, fields };
  }
  return { name: "Error", message: String(error), fields: {} };
}
