import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { InvalidArgumentError, InvalidGgufError, ModelFileError } from "../errors/index.js";
import { buildFixture } from "../fixtures/index.js";
import { readGgufFile } from "../node.js";

const caught = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
};

describe("readGgufFile: a path that names no GGUF is a typed error, not a raw ENOENT", () => {
  const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-read-gguf-"));

  test("a missing file: ModelFileError missing (code ENOENT), also under a file used as a folder", async () => {
    const missing = await caught(readGgufFile(join(dir, "nope.gguf")));
    expect(ModelFileError.isInstance(missing)).toBe(true);
    expect(missing).toMatchObject({ problem: "missing", code: "ENOENT", path: join(dir, "nope.gguf"), message: `no such model file: ${join(dir, "nope.gguf")}` });
    writeFileSync(join(dir, "plain"), "x");
    expect(await caught(readGgufFile(join(dir, "plain", "model.gguf")))).toMatchObject({ problem: "missing", code: "ENOTDIR" });
  });

  test("a folder: ModelFileError not-a-file", async () => {
    const folder = await caught(readGgufFile(dir));
    expect(ModelFileError.isInstance(folder)).toBe(true);
    expect(folder).toMatchObject({ problem: "not-a-file", message: `not a model file: ${dir} is a directory or a device, not a GGUF file` });
  });

  test("a readable file that is not a GGUF is InvalidGgufError; a GGUF reads", async () => {
    writeFileSync(join(dir, "notes.txt"), "these are not weights\n");
    expect(InvalidGgufError.isInstance(await caught(readGgufFile(join(dir, "notes.txt"))))).toBe(true);
    writeFileSync(join(dir, "tiny.gguf"), buildFixture("tiny"));
    expect((await readGgufFile(join(dir, "tiny.gguf"))).metadata.get("general.architecture")).toEqual({ type: "string", value: "nemotron_h" });
  });

  test("an unreadable file (permissions, I/O): ModelFileError unreadable, in one line without Node's errno wrapping", () => {
    const denied = ModelFileError.fromSystemError("m.gguf", Object.assign(new Error("EACCES: permission denied, open 'm.gguf'"), { code: "EACCES" }));
    expect(denied).toMatchObject({ problem: "unreadable", code: "EACCES", message: "cannot read the model file m.gguf: permission denied" });
    const io = ModelFileError.fromSystemError("m.gguf", Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" }));
    expect(io).toMatchObject({ problem: "unreadable", code: "EIO", message: "cannot read the model file m.gguf: EIO: i/o error, read" });
  });

  test.each([[""], [undefined], [42]])("a path that is not a non-empty string (%j) is an InvalidArgumentError", async (path) => {
    expect(InvalidArgumentError.isInstance(await caught(readGgufFile(path as string)))).toBe(true);
  });
});
