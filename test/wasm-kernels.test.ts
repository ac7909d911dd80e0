import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, test } from "vitest";

// ggml's Wasm SIMD128 kernels as wasm/patches/*.patch leave them, checked in isolation: test/support/wasm-kernels.c is
// compiled with emcc against the static libraries `node wasm/build.mjs` built (wasm/build/cmake-<tag>) and run with
// Node. Greedy parity with native (quantized-node-wasm.test.ts, wasm-backend.test.ts) tolerates small drifts; these
// checks do not: the activation quantizer byte for byte (wasm/patches/0001 has no other test that fails without it),
// row conversions bit for bit, matmuls against double precision and against ggml's own vec_dot.
const root = dirname(dirname(fileURLToPath(import.meta.url)));
const { tag } = JSON.parse(readFileSync(join(root, "node_modules", "node-llama-cpp", "llama", "llama.cpp.info.json"), "utf8")) as { tag: string };
const checkout = join(root, "wasm", "build", `llama.cpp-${tag}`);
const libraries = join(root, "wasm", "build", `cmake-${tag}`, "ggml", "src");
const outDir = join(root, ".cache", "wasm-kernels");

type Line = Record<string, unknown> & { check: string };
let lines: Line[] = [];
const find = (check: string, extra: Record<string, unknown> = {}) => {
  const found = lines.find((line) => line.check === check && Object.entries(extra).every(([key, value]) => line[key] === value));
  if (!found) throw new Error(`the harness printed no ${check} ${JSON.stringify(extra)}`);
  return found;
};

describe("Wasm SIMD128 kernels (wasm/patches)", () => {
  beforeAll(() => {
    for (const name of readdirSync(join(root, "wasm", "patches")).filter((f) => f.endsWith(".patch"))) {
      // Reverse-applies cleanly only when applied: the libraries below were built from the patched sources.
      execFileSync("git", ["-C", checkout, "apply", "--reverse", "--check", join(root, "wasm", "patches", name)], { stdio: "pipe" });
    }
    for (const library of ["libggml-cpu.a", "libggml-base.a"]) {
      if (!existsSync(join(libraries, library))) throw new Error(`missing ${join(libraries, library)}: run node wasm/build.mjs first`);
    }
    mkdirSync(outDir, { recursive: true });
    const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, "/usr/share/nodejs"].filter(Boolean).join(":") };
    const ggml = join(checkout, "ggml");
    const object = join(outDir, "wasm-kernels.o");
    const program = join(outDir, "wasm-kernels.cjs");
    // -ffp-contract=off: the harness's own float arithmetic stays unfused, as in the libraries.
    execFileSync("emcc", ["-O2", "-msimd128", "-ffp-contract=off", "-fwasm-exceptions", `-I${join(ggml, "include")}`, `-I${join(ggml, "src")}`, `-I${join(ggml, "src", "ggml-cpu")}`, "-c", join(root, "test", "support", "wasm-kernels.c"), "-o", object], { env, stdio: "pipe" });
    // -O0 link: the libraries are already -O3; skipping wasm-opt saves ~20 s. Synchronous instantiation: emscripten
    // 3.1.6's loader would fetch() the .wasm by path, which Node 20's fetch refuses.
    execFileSync("em++", ["-O0", "-fwasm-exceptions", object, join(libraries, "libggml-cpu.a"), join(libraries, "libggml-base.a"), "-sALLOW_MEMORY_GROWTH=1", "-sENVIRONMENT=node", "-sWASM_ASYNC_COMPILATION=0", "-o", program], { env, stdio: "pipe" });
    lines = execFileSync(process.execPath, [program], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Line);
  });

  test("row conversions: ggml_cpu_fp32_to_fp16 / fp16_to_fp32 give the scalar conversions' bits, tails included", () => {
    expect(find("row_conversions")).toMatchObject({ mismatches: 0 });
  });

  test("F16 rows to f32 (0008): every finite F16 value through the SIMD128 path, and short rows with or without an infinity / NaN, give the table's bits", () => {
    // 63,488 finite values (all but exponent 31) in one row, then 40 lengths x 64 rows; the finite rows also converted
    // in place, which only the SIMD path survives (a second pass through the table reads overwritten halves)
    expect(find("fp16_to_fp32_rows")).toMatchObject({ finite: 63488, tested: 115968, mismatches: 0 });
  });

  test("F16 store (0003): the SIMD128 four-lane fp32 -> fp16 store gives the scalar conversion's bits, edge cases included", () => {
    expect(find("f16x4_store")).toMatchObject({ tested: 65564, mismatches: 0 });
  });

  test("activation quantizer (0001): SIMD128 quantize_row_q8_0 gives the reference quantizer's bytes", () => {
    // Before 0001 it truncated toward zero: about half the values one level off.
    expect(find("quantize_q8_0")).toMatchObject({ tested: 4224, mismatches: 0 });
  });

  test.each(["q8_0", "q4_0"])("%s matmul through the graph gives ggml's SIMD128 vec_dot bits: decode, prefill, odd block and row counts", (type) => {
    for (const shape of [{ k: 256, m: 48, n: 1 }, { k: 256, m: 48, n: 13 }, { k: 288, m: 50, n: 3 }]) {
      const line = find("matmul", { type, ...shape });
      expect(line.vecDotMismatches).toBe(0);
      expect(line.relativeError).toBeLessThan(1e-6);
    }
  });

  test.each(["q8_0", "q4_0"])("%s 2x2 tiles (0004): nrc == 2 gives four nrc == 1 calls' bits, extremes included; the graph takes them on even shapes", (type) => {
    // nrows = 2 is what sends mul_mat to the tiles; without it the checks below would pass on the 1x1 kernel alone.
    const line = find("vec_dot_2x2", { type });
    expect(line).toMatchObject({ nrows: 2, tested: 320, mismatches: 0 });
    expect(line.relativeError).toBeLessThan(1e-5);
    for (const shape of [{ k: 256, m: 48, n: 8 }, { k: 288, m: 50, n: 8 }]) {
      const matmul = find("matmul", { type, ...shape });
      expect(matmul.vecDotMismatches).toBe(0);
      expect(matmul.relativeError).toBeLessThan(1e-6);
    }
  });

  test("f16 2x2 tiles (0005): nrc == 2 gives four nrc == 1 calls' bits, tails and subnormals included; batched matmuls of an even shape take them", () => {
    expect(find("vec_dot_2x2", { type: "f16" })).toMatchObject({ nrows: 2, tested: 320, mismatches: 0 });
    // one-plane F16 matmuls take 0007's panels instead (below)
    const batched = find("matmul", { type: "f16", k: 256, m: 48, n: 8, planes: 2 });
    expect(batched.vecDotMismatches).toBe(0);
    expect(batched.relativeError).toBeLessThan(1e-6);
  });

  test("f16 panels (0007): one-plane F16 matmuls, converted once to f32 panels, give ggml_vec_dot_f16's bits; batched ones keep ggml's loop", () => {
    // the one-column dot (the column converted once): lengths with tails, subnormals
    expect(find("vec_dot_f16_f32y")).toMatchObject({ tested: 224, mismatches: 0 });
    // the plan: src1's F16 copy (64-byte aligned), a thread's two panels (16 rows and 16 columns of k rounded up to 16
    // floats), a cache line per thread; and the compute wrote the panels (the bits alone could not tell ggml's loop)
    const panels = (k: number) => 2 * 16 * Math.ceil(k / 16) * 16 * 4;
    const f16Copy = (k: number, n: number) => Math.ceil((2 * k * n) / 64) * 64;
    const shapes = [
      { k: 256, m: 48, n: 1 }, // one column: rows converted on the fly
      { k: 282, m: 37, n: 1 },
      { k: 256, m: 48, n: 13 },
      { k: 256, m: 48, n: 8 },
      { k: 280, m: 50, n: 8 }, // a tail after the last 16-value step
      { k: 282, m: 37, n: 19 }, // odd rows and columns, k not a multiple of 4
      { k: 200, m: 70, n: 40 }, // several 16-row and 16-column blocks
    ];
    for (const shape of shapes) {
      const matmul = find("matmul", { type: "f16", planes: 1, ...shape });
      expect(matmul.vecDotMismatches).toBe(0);
      expect(matmul.relativeError).toBeLessThan(1e-6);
      expect(matmul.workSize).toBe(f16Copy(shape.k, shape.n) + panels(shape.k) + 64);
      expect(matmul.panelsWritten).toBe(1);
    }
    const batched = find("matmul", { type: "f16", k: 256, m: 48, n: 8, planes: 2 });
    expect(batched.workSize).toBe(f16Copy(256, 16) + 64);
    expect(batched.panelsWritten).toBe(0);
  });

  test("flash attention without F16 round trips (0006): Q converted once, K / V once per group of query heads, the V accumulator rounded to F16 in f32: ggml's own bits", () => {
    // the rounding: every F16 value, every tie between neighbours and one f32 step either side, 65504..65520 and past
    // it, infinities, NaNs, random floats (the check counts a mismatch for every bit of difference)
    // and each of its two forms alone: the one with the bit-selects on every vector, the common one on the 68,347 vectors
    // with every lane under 65520 in magnitude
    expect(find("round_to_f16")).toMatchObject({ tested: 453984, finiteVectors: 68347, mismatches: 0 });
    // flash attention through the graph against ggml's algorithm written out (F16 Q, F16 accumulator): a decode step
    // with 16 query heads a K / V head (the grouped pass), 5 sequences' tokens in one masked cache, ALiBi + softcap,
    // no grouping (the pass one row at a time), head sizes with tails, and long caches (ggml's split-KV path)
    const shapes = [
      { nKv: 200, nQ: 1, heads: 32, kvHeads: 2, masked: 0 },
      { nKv: 96, nQ: 5, heads: 32, kvHeads: 2, masked: 1 },
      { nKv: 37, nQ: 3, heads: 12, kvHeads: 4, masked: 1, maxBias: 8, softcap: 30 },
      { nKv: 37, nQ: 1, heads: 4, kvHeads: 4, masked: 0 },
      { dk: 40, dv: 24, nKv: 65, nQ: 2, heads: 2, kvHeads: 1 },
      // one token and 512 cells or more: the KV cells split between threads, partial results reduced
      { nKv: 600, nQ: 1, heads: 32, kvHeads: 2, masked: 1 },
      { nKv: 520, nQ: 1, heads: 4, kvHeads: 4, masked: 0 },
    ];
    for (const shape of shapes) {
      const line = find("flash_attn", shape);
      expect(line.tested).toBeGreaterThan(0);
      expect(line.mismatches).toBe(0);
      // every row took the patch's pass: ggml's own loop would have written its F16 accumulator in the work buffer
      expect(line.ggmlLoop).toBe(0);
    }
  });

  test.each(["f32", "f16", "q8_0", "q4_0"])("%s matmul, decode and prefill shapes: within 1e-6 of double over the same operands", (type) => {
    for (const n of [1, 13]) expect(find("matmul", { type, n }).relativeError).toBeLessThan(1e-6);
  });
});
