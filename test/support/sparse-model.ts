import { closeSync, ftruncateSync, mkdtempSync, openSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, ggmlTypeByName, ggufHeader, parseGguf } from "@hybrid-llm/core";

/**
 * Writes the tiny fixture's header plus one more F16 tensor (`name`, `dims`) whose data exists only as a hole in a
 * sparse file: a model of any size on disk for nothing. llama.cpp refuses it (the architecture has no such tensor),
 * so it exercises size checks and load failures without allocating. Returns the file's path.
 */
export function sparseTinyWithExtraTensor(name: string, dims: readonly number[]): string {
  const tiny = parseGguf(buildFixture("tiny"));
  const tensors = [...tiny.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type })), { name, dims: [...dims], type: ggmlTypeByName("f16")! }];
  const header = ggufHeader(tiny.metadata, tensors);
  const path = join(mkdtempSync(join(tmpdir(), "hybrid-llm-sparse-")), `${name}.gguf`);
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header.bytes);
    ftruncateSync(fd, header.dataOffset + header.dataSize);
  } finally {
    closeSync(fd);
  }
  return path;
}
