import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { byteSourceImports } from "./byte-sources.js";

const root = new URL("../../../", import.meta.url);

/** The imports over a one-page memory (only its buffer is read), with napi_value handles 1.. standing for `values`. */
function imports(values: unknown[]) {
  const memory = { buffer: new ArrayBuffer(65_536) };
  const context = { handleStore: { get: (id: number) => (id >= 1 && id <= values.length ? { value: values[id - 1] } : undefined) } };
  const env = byteSourceImports(context, () => memory as never /* a WebAssembly.Memory: its buffer */) as unknown as Record<string, (...args: number[]) => number>;
  return { memory, env, copyView: env.hybrid_llm_copy_view! };
}

describe("hybrid_llm_copy_view (a decode's input arrays into linear memory)", () => {
  test("copies a view's own bytes, its offset into the buffer respected, to the target", () => {
    const backing = Int32Array.of(-1, 7, 8, 2 ** 31 - 1, -1);
    const view = backing.subarray(1, 4);
    const { memory, copyView } = imports([view]);
    expect(copyView(1, 64, 12)).toBe(0);
    expect(Array.from(new Int32Array(memory.buffer, 64, 3))).toEqual([7, 8, 2 ** 31 - 1]);
    // Nothing around the target was touched.
    expect(new Int32Array(memory.buffer, 60, 1)[0]).toBe(0);
    expect(new Int32Array(memory.buffer, 76, 1)[0]).toBe(0);
  });

  test("answers -1, writing nothing, for a length that is not the array's, a non-view, an unknown handle, a target past the end", () => {
    const { memory, copyView } = imports([Uint8Array.of(1, 2, 3), "not an array", Uint8Array.of(9)]);
    expect(copyView(1, 0, 2)).toBe(-1);
    expect(copyView(1, 0, 4)).toBe(-1);
    expect(copyView(2, 0, 12)).toBe(-1);
    expect(copyView(9, 0, 1)).toBe(-1);
    expect(copyView(3, 65_536, 1)).toBe(-1);
    expect(new Uint8Array(memory.buffer).every((byte) => byte === 0)).toBe(true);
  });
});

describe("the binding's host imports", () => {
  // A name missing from one list goes unnoticed otherwise: the single-threaded module gets an -ENOSYS stub for an
  // unsupplied import and the binding falls back to the slower path; the multi-threaded one fails to link.
  test("native/src/host-imports.h declares, byteSourceImports supplies and wasm/build.mjs forwards the same names", () => {
    const declared = [...readFileSync(new URL("native/src/host-imports.h", root), "utf8").matchAll(/import_name\("(\w+)"\)/g)].map((m) => m[1]!);
    const build = readFileSync(new URL("wasm/build.mjs", root), "utf8");
    const forwarded = [...(/const hostImports = \[([^\]]*)\]/.exec(build)?.[1] ?? "").matchAll(/"(\w+)"/g)].map((m) => m[1]!);
    const supplied = Object.keys(imports([]).env);
    expect(declared.sort()).toEqual(["hybrid_llm_copy_view", "hybrid_llm_source_close", "hybrid_llm_source_open", "hybrid_llm_source_read", "hybrid_llm_source_size"]);
    expect(supplied.sort()).toEqual(declared);
    expect(forwarded.sort()).toEqual(declared);
  });
});
