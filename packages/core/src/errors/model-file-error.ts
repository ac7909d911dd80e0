import { HybridLlmError } from "./hybrid-llm-error.js";

const name = "ModelFileError";
const marker = `hybrid-llm.error.${name}`;
const symbol = Symbol.for(marker);

/** Why a model file could not be read: it does not exist, it is a folder or a device, or reading it failed. */
export type ModelFileProblem = "missing" | "not-a-file" | "unreadable";

/**
 * A model path that names no readable file (`readGgufFile`, `loadModel({ path })`): missing, a folder, or
 * unreadable (permissions, an I/O error). `code` is the operating system's error code when there is one (`ENOENT`,
 * `EACCES`, …). Whether a readable file is a GGUF llama.cpp can load is {@link InvalidGgufError}'s and
 * {@link UnsupportedArchitectureError}'s to say.
 */
export class ModelFileError extends HybridLlmError {
  private readonly [symbol] = true;

  /** The path as given. */
  readonly path: string;
  /** What is wrong with it. */
  readonly problem: ModelFileProblem;
  /** The operating system's error code (`ENOENT`, `EACCES`, `EISDIR`, …), if any. */
  readonly code: string | undefined;

  constructor({ path, problem, code, detail, cause }: { path: string; problem: ModelFileProblem; code?: string; detail?: string; cause?: unknown }) {
    const message =
      problem === "missing"
        ? `no such model file: ${path}`
        : problem === "not-a-file"
          ? `not a model file: ${path} is a directory or a device, not a GGUF file`
          : `cannot read the model file ${path}: ${detail ?? code ?? "read failed"}`;
    super({ name, message, cause });
    this.path = path;
    this.problem = problem;
    this.code = code;
  }

  /**
   * The ModelFileError for a file-system error met while opening or reading `path` (ENOENT and ENOTDIR are
   * `missing`, EISDIR `not-a-file`, the rest `unreadable`).
   */
  static fromSystemError(path: string, error: unknown): ModelFileError {
    const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : undefined;
    if (code === "ENOENT" || code === "ENOTDIR") return new ModelFileError({ path, problem: "missing", code, cause: error });
    if (code === "EISDIR") return new ModelFileError({ path, problem: "not-a-file", code, cause: error });
    const detail = code === "EACCES" || code === "EPERM" ? "permission denied" : error instanceof Error ? error.message : String(error);
    return new ModelFileError({ path, problem: "unreadable", ...(code === undefined ? {} : { code }), detail, cause: error });
  }

  static override isInstance(error: unknown): error is ModelFileError {
    return HybridLlmError.hasMarker(error, marker);
  }
}
