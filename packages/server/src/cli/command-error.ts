/**
 * The CLI's exit codes: 0 done; 1 the command failed (a missing or unreadable model file, not a GGUF, an
 * unsupported architecture, an impossible plan, a refused request); 2 a usage error; 3 a model download failed
 * (unreachable server, an HTTP error, a size or SHA-256 mismatch).
 */
export const exitCodes = { done: 0, failed: 1, usage: 2, download: 3 } as const;

/**
 * A command that cannot go on for a reason outside the command line (a failed download, a file it cannot
 * write): printed as one line, with exit code `exitCode` (default 1).
 */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = exitCodes.failed,
  ) {
    super(message);
    this.name = "CommandError";
  }
}
