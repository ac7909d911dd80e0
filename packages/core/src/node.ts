/**
 * @hybrid-llm/core/node — Node conveniences over the runtime-neutral core: read GGUF headers from disk without
 * loading multi-GB weights, and write fixtures to files.
 *
 * @packageDocumentation
 * @module @hybrid-llm/core/node
 */
import { mkdir, open, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { InvalidArgumentError } from "./errors/invalid-argument-error.js";
import { InvalidGgufError } from "./errors/invalid-gguf-error.js";
import { ModelFileError } from "./errors/model-file-error.js";
import { buildFixture } from "./fixtures/profiles.js";
import { type GgufFile, parseGgufPrefix } from "./gguf/reader.js";

/**
 * Reads the header, metadata and tensor infos of a GGUF file, reading only as much of it as they take (a few MB
 * for a large model: the tokenizer dominates).
 *
 * @throws ModelFileError when `path` names no readable file (missing, a folder, unreadable).
 * @throws InvalidGgufError for a malformed or truncated file.
 * @throws InvalidArgumentError when `path` is not a non-empty string.
 *
 * @example
 * ```ts
 * import { readGgufFile } from "@hybrid-llm/core/node";
 *
 * const file = await readGgufFile("model.gguf");
 * console.log(file.metadata.get("general.architecture")?.value);
 * ```
 */
export async function readGgufFile(path: string): Promise<GgufFile> {
  if (typeof path !== "string" || path === "") throw new InvalidArgumentError({ argument: "path", message: `a model path is a non-empty string, got ${JSON.stringify(path) ?? String(path)}` });
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    throw ModelFileError.fromSystemError(path, error);
  }
  try {
    let size: number;
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new ModelFileError({ path, problem: "not-a-file" });
      size = stats.size;
    } catch (error) {
      throw ModelFileError.isInstance(error) ? error : ModelFileError.fromSystemError(path, error);
    }
    if (size === 0) throw new InvalidGgufError({ message: "the file is empty", offset: 0 });
    let length = Math.min(size, 4 << 20);
    for (;;) {
      const prefix = new Uint8Array(length);
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(prefix, 0, length, 0));
      } catch (error) {
        throw ModelFileError.fromSystemError(path, error);
      }
      const result = parseGgufPrefix(prefix.subarray(0, bytesRead), size);
      if (!("needMoreBytes" in result)) return result;
      length = Math.min(size, length * 4);
    }
  } finally {
    await handle.close();
  }
}

/** Builds a fixture profile and writes it to `path` (creating the folder). Returns the bytes written. */
export async function writeFixtureFile(profileId: string, path: string, seed?: number): Promise<Uint8Array> {
  const bytes = buildFixture(profileId, seed);
  await mkdir(dirname(path), { recursive: true });
  // Written aside, then renamed: a reader in another process (test files run in parallel) sees the old file or the
  // whole new one, never a half-written one.
  const partial = `${path}.${process.pid}.${Date.now()}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, path);
  return bytes;
}
