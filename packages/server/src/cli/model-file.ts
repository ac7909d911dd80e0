import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { CommandError } from "./command-error.js";

/**
 * Checks, before a backend is created or anything is read, that `path` names a readable file, so that a typo gives
 * one line (`no such model file: nope.gguf`) instead of an ENOENT stack trace. Whether it is a GGUF llama.cpp can
 * load is the reader's and the backend's to say (typed errors, also one line).
 */
export async function checkModelFile(path: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      const remote = /^(hf|https?):/.test(path) ? " (--model takes a local GGUF file; hf: and https:// models are not supported yet)" : "";
      throw new CommandError(`no such model file: ${path}${remote}`);
    }
    throw new CommandError(`cannot read the model file ${path}: ${describe(error)}`);
  }
  if (!isFile) throw new CommandError(`not a model file: ${path} is a directory or a device, not a GGUF file`);
  try {
    await access(path, constants.R_OK);
  } catch (error) {
    throw new CommandError(`cannot read the model file ${path}: ${describe(error)}`);
  }
}

/** "permission denied" from an errno error, without Node's "EACCES: …, open 'x'" wrapping. */
function describe(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  return message;
}
