/**
 * @hybrid-llm/core/node — Node conveniences over the runtime-neutral core: read GGUF headers from disk without
 * loading multi-GB weights, and write fixtures to files.
 *
 * @packageDocumentation
 */
import { mkdir, open, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { InvalidGgufError } from "./errors/invalid-gguf-error.js";
import { buildFixture } from "./fixtures/profiles.js";
import { type GgufFile, parseGgufPrefix } from "./gguf/reader.js";

/**
 * Reads the header, metadata and tensor infos of a GGUF file, reading only as much of it as they take (a few MB
 * for a large model: the tokenizer dominates).
 *
 * @throws InvalidGgufError for a malformed or truncated file.
 */
export async function readGgufFile(path: string): Promise<GgufFile> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    if (size === 0) throw new InvalidGgufError({ message: "the file is empty", offset: 0 });
    let length = Math.min(size, 4 << 20);
    for (;;) {
      const prefix = new Uint8Array(length);
      const { bytesRead } = await handle.read(prefix, 0, length, 0);
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
  await writeFile(path, bytes);
  return bytes;
}
