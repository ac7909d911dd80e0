/**
 * A command that cannot go on for a reason outside the command line (a missing model file, an unreadable one):
 * printed as one line, exit code 1.
 */
export class CommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommandError";
  }
}
