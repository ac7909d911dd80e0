import { describe, expect, test } from "vitest";
import { mutateGguf } from "../testing/gguf-mutations.js";
import { catchError } from "../testing/catch-error.js";
import { HybridLlmError } from "../errors/hybrid-llm-error.js";
import { InvalidGgufError } from "../errors/invalid-gguf-error.js";
import { buildFixture } from "../fixtures/profiles.js";
import { ggmlTypeByName } from "./ggml-types.js";
import { cacheSpecFromMetadata } from "./model-cache-spec.js";
import { parseGguf, parseGgufPrefix } from "./reader.js";
import type { GgufValue } from "./value-types.js";
import { writeGguf } from "./writer.js";

const f32 = ggmlTypeByName("f32")!;

function sample(): Uint8Array {
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["u8", { type: "uint8", value: 200 }],
    ["i8", { type: "int8", value: -5 }],
    ["u16", { type: "uint16", value: 60000 }],
    ["i16", { type: "int16", value: -30000 }],
    ["u32", { type: "uint32", value: 4000000000 }],
    ["i32", { type: "int32", value: -2000000000 }],
    ["f32", { type: "float32", value: 0.5 }],
    ["f64", { type: "float64", value: Math.PI }],
    ["bool", { type: "bool", value: true }],
    ["str", { type: "string", value: "héllo ✓" }],
    ["u64", { type: "uint64", value: 2n ** 63n + 7n }],
    ["i64", { type: "int64", value: -(2n ** 62n) }],
    ["arr", { type: "array", elementType: "int32", value: [1, -2, 3] }],
    ["strs", { type: "array", elementType: "string", value: ["a", "", "ccc"] }],
    ["u64s", { type: "array", elementType: "uint64", value: [1n, 2n] }],
  ]);
  return writeGguf(metadata, [
    { name: "a", dims: [3], type: f32, data: new Uint8Array(12).fill(1) },
    { name: "b", dims: [2, 2], type: f32, data: new Uint8Array(16).fill(2) },
  ]);
}

describe("parseGguf", () => {
  test("round-trips every value type and the tensor table", () => {
    const bytes = sample();
    const file = parseGguf(bytes);
    expect(file.version).toBe(3);
    expect(file.metadata.get("u64")).toEqual({ type: "uint64", value: 2n ** 63n + 7n });
    expect(file.metadata.get("i64")).toEqual({ type: "int64", value: -(2n ** 62n) });
    expect(file.metadata.get("str")).toEqual({ type: "string", value: "héllo ✓" });
    expect(file.metadata.get("f64")).toEqual({ type: "float64", value: Math.PI });
    expect(file.metadata.get("arr")).toEqual({ type: "array", elementType: "int32", value: [1, -2, 3] });
    expect(file.metadata.get("strs")).toEqual({ type: "array", elementType: "string", value: ["a", "", "ccc"] });
    expect(file.tensors.map((t) => [t.name, t.dims, t.offset, t.byteSize])).toEqual([
      ["a", [3], 0, 12],
      ["b", [2, 2], 32, 16],
    ]);
    expect(file.dataOffset % 32).toBe(0);
    expect(file.dataSize).toBe(64);
    // The data section really holds the tensors where the table says.
    expect(bytes[file.dataOffset + 32]).toBe(2);
    // Writing what was read gives the same bytes.
    expect(writeGguf(file.metadata, [
      { name: "a", dims: [3], type: f32, data: bytes.subarray(file.dataOffset, file.dataOffset + 12) },
      { name: "b", dims: [2, 2], type: f32, data: bytes.subarray(file.dataOffset + 32, file.dataOffset + 48) },
    ])).toEqual(bytes);
  });

  test("writes strings and string arrays that cross the writer's buffer growth (64 KiB and beyond)", () => {
    const long = "x".repeat(70_000);
    const tokens = Array.from({ length: 50_000 }, (_, i) => `tok${i}`);
    const metadata = new Map<string, GgufValue>([
      ["general.architecture", { type: "string", value: "llama" }],
      ["general.name", { type: "string", value: long }],
      ["tokenizer.ggml.tokens", { type: "array", elementType: "string", value: tokens }],
    ]);
    const file = parseGguf(writeGguf(metadata, []));
    expect(file.metadata.get("general.name")).toEqual({ type: "string", value: long });
    expect((file.metadata.get("tokenizer.ggml.tokens") as { value: readonly string[] }).value).toEqual(tokens);
  });

  test("rejects bad magic, version and truncation with the byte offset", () => {
    const bytes = sample();
    const badMagic = bytes.slice();
    badMagic[0] = 0x47 + 1;
    expect(() => parseGguf(badMagic)).toThrow(/byte 0: not a GGUF file/);
    const badVersion = bytes.slice();
    badVersion[4] = 9;
    expect(() => parseGguf(badVersion)).toThrow(/byte 4: unsupported GGUF version 9/);
    const error = catchError(() => parseGguf(bytes.subarray(0, 30)));
    expect(InvalidGgufError.isInstance(error)).toBe(true);
    // 30 bytes cannot hold two tensor infos: caught at the tensor count, before reading on.
    expect((error as InvalidGgufError).offset).toBe(8);
    const cut = 3000; // inside the tiny fixture's token list
    const truncated = catchError(() => parseGguf(buildFixture("tiny").subarray(0, cut))) as InvalidGgufError;
    expect(truncated.message).toMatch(/tokenizer\.ggml\.tokens/);
    expect(truncated.offset).toBeLessThanOrEqual(cut);
    // Cut inside the last tensor (past its 16 padding bytes): the header parses, the data does not fit.
    expect(() => parseGguf(bytes.subarray(0, bytes.length - 17))).toThrow(/truncated: tensor "b" ends at byte/);
  });

  test("refuses length fields larger than the file before allocating", () => {
    const bytes = sample();
    const hugeKvCount = bytes.slice();
    new DataView(hugeKvCount.buffer).setBigUint64(16, 2n ** 50n, true);
    expect(() => parseGguf(hugeKvCount)).toThrow(/metadata count .* cannot fit/);
    const hugeString = bytes.slice();
    new DataView(hugeString.buffer).setBigUint64(24, 2n ** 40n, true); // length of the first key
    expect(() => parseGguf(hugeString)).toThrow(/byte 24: key 0 length .* exceeds/);
  });

  test("reads a header from a prefix, asking for more bytes when it ends early", () => {
    const bytes = buildFixture("tiny");
    const short = parseGgufPrefix(bytes.subarray(0, 1000), bytes.length);
    expect(short).toEqual({ needMoreBytes: true, prefixLength: 1000 });
    const full = parseGgufPrefix(bytes.subarray(0, 200_000), bytes.length);
    expect("needMoreBytes" in full).toBe(false);
    expect(full).toEqual(parseGguf(bytes));
    // A claimed file size smaller than the tensor data is corruption, not "need more".
    expect(() => parseGgufPrefix(bytes.subarray(0, 200_000), 200_001)).toThrow(InvalidGgufError);
  });
});

describe("fuzzing the reader with mutated and truncated fixtures", () => {
  test("1,200 damaged copies of the tiny fixture each end in a valid spec or a typed error", () => {
    const outcomes = { spec: 0, typedError: 0 };
    const heapBefore = process.memoryUsage().heapUsed;
    const cases = [...mutateGguf(buildFixture("tiny"), 1200)];
    for (const bytes of cases) {
      try {
        const file = parseGguf(bytes);
        cacheSpecFromMetadata(file.metadata);
        outcomes.spec++;
      } catch (error) {
        if (!HybridLlmError.isInstance(error)) throw error; // a RangeError, TypeError… is a bug
        outcomes.typedError++;
      }
    }
    // Most damage is refused with a typed error; some (a flipped bit in a string value) leaves a valid file.
    expect(outcomes.typedError).toBeGreaterThan(900);
    expect(outcomes.spec).toBeGreaterThan(0);
    // Nothing sized an allocation from a corrupt field: the heap grew by far less than the inputs themselves.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
  });
});
