#!/usr/bin/env node
// Per-row cost of the native sampling step on the realistic-vocab fixture (131,072 tokens): fast_pick against
// llama.cpp's chain fed as before it (bench-fast-pick.cpp), the same token for the same seed, CPU time per row
// (thread CPU time: a busy machine slows it less than wall time). Linux x64 with g++ only: it links node-llama-cpp's
// prebuilt CPU libllama. Usage: npm run build && node scripts/bench-fast-pick.mjs [--spread 3,18] [--no-bounded]
// --asan: instead, fast_pick under AddressSanitizer + UBSan on each sweep branch (AVX-512, AVX2, portable), which must
// draw the same tokens (scripts/fast-pick-asan.cpp; no libllama needed).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { NodeBackend } from "@hybrid-llm/node";
import { writeFixtureFile } from "../packages/core/dist/node.js";
import { llamaSourceDir, packageDir } from "../native/build.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
if (process.argv.includes("--asan")) {
  const { checkout } = llamaSourceDir();
  const hashes = new Set();
  for (const [name, define] of [["avx512", []], ["avx2", ["-DHYBRID_LLM_NO_AVX512_SWEEP"]], ["portable", ["-DHYBRID_LLM_PORTABLE_SWEEP"]]]) {
    const binary = join(root, ".cache", `fast-pick-asan-${name}`);
    execFileSync("g++", [
      "-std=c++17", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", ...define, `-I${join(root, "native", "src")}`,
      `-I${join(checkout, "include")}`, `-I${join(checkout, "ggml", "include")}`,
      join(root, "scripts", "fast-pick-asan.cpp"), join(root, "native", "src", "fast-pick.cpp"), join(root, "native", "src", "row-top2.cpp"), "-o", binary,
    ], { stdio: "inherit" });
    const out = execFileSync(binary, { encoding: "utf8" }).trim();
    console.log(`${name}: ${out}`);
    hashes.add(out);
  }
  if (hashes.size !== 1) throw new Error("the sweep branches drew different tokens");
  process.exit(0);
}
const dir = join(root, ".cache", "bench");
mkdirSync(dir, { recursive: true });
const model = join(dir, "real-vocab.gguf");
if (!existsSync(model)) await writeFixtureFile("real-vocab", model);

// 16 rows of real logits: a prompt's positions.
const rowsFile = join(dir, "real-vocab-logits.f32");
const backend = await NodeBackend.create({ gpu: false });
try {
  const loaded = await backend.loadModel({ path: model });
  const context = await loaded.createContext({ ctx: 256, slots: 1, threads: 2, batch: 64 });
  const n = 16;
  const tokens = Int32Array.from({ length: n }, (_, i) => (i * 7919 + 13) % loaded.info.vocabSize);
  const batch = { tokens, positions: Int32Array.from(tokens, (_, i) => i), sequenceIds: new Int32Array(n), outputs: new Uint8Array(n).fill(1) };
  const { logits } = await context.decode(batch, { returnLogits: true });
  writeFileSync(rowsFile, Buffer.from(logits.buffer, logits.byteOffset, logits.byteLength));
} finally {
  await backend.dispose();
}

const { checkout, tag } = llamaSourceDir();
const libs = join(packageDir("@node-llama-cpp/linux-x64"), "bins", "linux-x64");
const binary = join(dir, "bench-fast-pick");
execFileSync("g++", [
  "-std=c++17", "-O2", `-I${join(root, "native", "src")}`, `-I${join(checkout, "include")}`, `-I${join(checkout, "ggml", "include")}`,
  join(root, "scripts", "bench-fast-pick.cpp"), join(root, "native", "src", "fast-pick.cpp"), join(root, "native", "src", "row-top2.cpp"),
  "-o", binary, `-L${libs}`, `-l:libllama.${tag}.so`, `-Wl,-rpath,${libs}`,
], { stdio: "inherit" });
// --spread SD,TOP: synthetic rows instead (normal logits of that standard deviation, five tokens from TOP down): a
// trained model's rows keep far more of the vocabulary within reach of the top than the fixture's.
const spread = process.argv.includes("--spread") ? process.argv[process.argv.indexOf("--spread") + 1].split(",") : [];
// --no-bounded: top-p alone without the bounded sweep (the gather sweep only), for an A/B of the same build.
const env = process.argv.includes("--no-bounded") ? { ...process.env, HYBRID_LLM_FAST_PICK_BOUNDED: "off" } : process.env;
execFileSync(binary, [rowsFile, ...spread], { stdio: "inherit", env });
