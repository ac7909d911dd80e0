#!/usr/bin/env node
// ggml's kernels alone, Wasm (SIMD128, as wasm/patches leave them) vs native (node-llama-cpp's prebuilt libggml-cpu for
// this CPU), one thread each: matmuls of bench-60m's shape (768 x 2048 weights; 1 column = decode, 64 = prefill), the
// activation quantizer and F16 row conversions, and one decode token's flash attention over 1,024 F16 cells (bench-60m's
// heads and the twin's): where the end-to-end gap of `npm run bench:wasm` comes from. Builds test/support/wasm-kernels.c twice: with emcc
// against wasm/build/cmake-<tag> (run `node wasm/build.mjs` first) and with the system C compiler against the .so.
// Usage: npm run bench:wasm-kernels [-- --variant haswell]   (native: plain graph compute, no repacked weights)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));
const { values } = parseArgs({ options: { variant: { type: "string", default: defaultVariant() } } });

/** The libggml-cpu variant ggml would pick here, roughly: by the CPU's flags. */
function defaultVariant() {
  const info = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const flags = new Set((/^flags\s*:(.*)$/m.exec(info)?.[1] ?? "").trim().split(/\s+/));
  const amd = /AuthenticAMD|AMD/.test(info);
  if (flags.has("avx512f")) return amd ? "zen4" : flags.has("amx_int8") ? "sapphirerapids" : "skylakex";
  if (flags.has("avx2")) return "haswell";
  return "x64";
}

const { tag } = JSON.parse(readFileSync(join(root, "node_modules", "node-llama-cpp", "llama", "llama.cpp.info.json"), "utf8"));
const ggml = join(root, "wasm", "build", `llama.cpp-${tag}`, "ggml");
const libraries = join(root, "wasm", "build", `cmake-${tag}`, "ggml", "src");
const bins = join(root, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");
const out = join(root, ".cache", "wasm-kernels");
mkdirSync(out, { recursive: true });
const source = join(root, "test", "support", "wasm-kernels.c");
const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, "/usr/share/nodejs"].filter(Boolean).join(":") };
const includes = [`-I${join(ggml, "include")}`, `-I${join(ggml, "src")}`];

execFileSync("emcc", ["-O2", "-msimd128", "-ffp-contract=off", "-fwasm-exceptions", ...includes, `-I${join(ggml, "src", "ggml-cpu")}`, "-c", source, "-o", join(out, "bench.o")], { env, stdio: "inherit" });
execFileSync("em++", ["-O2", "-fwasm-exceptions", join(out, "bench.o"), join(libraries, "libggml-cpu.a"), join(libraries, "libggml-base.a"), "-sALLOW_MEMORY_GROWTH=1", "-sENVIRONMENT=node", "-sWASM_ASYNC_COMPILATION=0", "-o", join(out, "bench.cjs")], { env, stdio: "inherit" });
const cpu = join(bins, `libggml-cpu-${values.variant}.so`);
execFileSync("cc", ["-O2", ...includes, source, "-o", join(out, "bench-native"), cpu, join(bins, "libggml-base.so"), `-Wl,-rpath,${bins}`, "-lm"], { stdio: "inherit" });

const parse = (text) => text.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
// Alternating, so both sides see the same machine load.
const wasm = parse(execFileSync(process.execPath, [join(out, "bench.cjs"), "bench"], { encoding: "utf8" }));
const native = parse(execFileSync(join(out, "bench-native"), ["bench"], { encoding: "utf8" }));
console.log(`1 thread each; native: libggml-cpu-${values.variant}.so; ms per call (after warm-up)`);
console.log("kernel                                    wasm ms   native ms   wasm / native speed");
for (const [i, w] of wasm.entries()) {
  const n = native[i];
  const name =
    w.bench === "matmul"
      ? `matmul ${w.type} ${w.k}x${w.m}, ${w.n} col${w.n > 1 ? "s" : ""}`
      : w.bench === "flash_attn"
        ? `flash_attn ${w.dk}, ${w.heads}/${w.kvHeads} heads, ${w.k} cells`
        : `${w.bench} (${w.k})`;
  console.log(`${name.padEnd(40)} ${w.ms.toFixed(3).padStart(9)}  ${n.ms.toFixed(3).padStart(10)}   ${(n.ms / w.ms).toFixed(3).padStart(8)}×`);
}
