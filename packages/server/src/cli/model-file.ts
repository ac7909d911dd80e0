import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { ModelFileError } from "@hybrid-llm/core";

/**
 * Checks, before a backend is created or anything is read, that `path` names a readable file, so that a typo gives
 * one line (`no such model file: nope.gguf`, a ModelFileError) instead of an ENOENT stack trace. Whether it is a
 * GGUF llama.cpp can load is the reader's and the backend's to say (typed errors, also one line).
 */
export async function checkModelFile(path: string): Promise<void> {
  try {
    if (!(await stat(path)).isFile()) throw new ModelFileError({ path, problem: "not-a-file" });
    await access(path, constants.R_OK);
  } catch (error) {
    throw ModelFileError.isInstance(error) ? error : ModelFileError.fromSystemError(path, error);
  }
}
