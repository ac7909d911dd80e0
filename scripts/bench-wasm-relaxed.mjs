#!/usr/bin/env node
// Would relaxed SIMD close the Wasm backend's int8 gap (issue #15)? A probe, not part of the build: the Q8_0 x Q8_0 and
// Q4_0 x Q8_0 block dots that dominate a quantized decode step, written twice in WebAssembly text, once with SIMD128
// (what ggml's Wasm path does: widen int8 to int16, i32x4.dot_i16x8_s) and once with relaxed SIMD's
// i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw on x86), then timed over one activation row against 2,048 weight rows (in
// cache) and 40,000 rows (out of cache), best of 7, in this process's V8.
//
// Relaxed SIMD's dot takes its second operand as 7-bit: values with the top bit set give different results on
// different CPUs (x86 reads them unsigned). So the relaxed forms keep that operand in [0, 127]: for Q8_0 the weight's
// magnitude (|q| <= 127), its sign moved onto the activation; for Q4_0 the raw nibble (0..15), with 8 x sum(activation)
// subtracted. Before timing, the probe checks both instructions against known answers and every row's integer dot
// against the SIMD128 kernel's (exact), and says what failed.
//
// Needs binaryen's wasm-as (installed with emscripten) to assemble the text. Binaryen 108 (Debian bookworm) still
// encodes i32x4.relaxed_dot_i8x16_i7x16_add_s with its pre-standard opcode 0x114: the probe rewrites it to the
// standard 0x113. Node 20 runs relaxed SIMD behind --experimental-wasm-relaxed-simd only: the probe re-runs itself
// with that flag when it must, and says so.
// Usage: npm run bench:wasm-relaxed
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const FLAG = "--experimental-wasm-relaxed-simd";
const NB = 24; // blocks of 32 per row: a 768-wide row, bench-60m's residual stream

/** The dot loop over `nb` blocks; `body` leaves the block's i32x4 partial sums in $p. */
function kernel(name, weightBytes, locals, body) {
  return `
  (func $${name} (param $wp i32) (param $wsp i32) (param $ap i32) (param $asp i32) (param $nb i32) (result f32)
    (local $acc v128) (local $p v128) (local $a0 v128) (local $a1 v128) (local $i i32) ${locals}
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $nb)))
      (local.set $a0 (v128.load (local.get $ap)))
      (local.set $a1 (v128.load offset=16 (local.get $ap)))
      ${body}
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (f32x4.convert_i32x4_s (local.get $p))
        (f32x4.splat (f32.mul (f32.load (local.get $wsp)) (f32.load (local.get $asp)))))))
      (local.set $wp (i32.add (local.get $wp) (i32.const ${weightBytes})))
      (local.set $ap (i32.add (local.get $ap) (i32.const 32)))
      (local.set $wsp (i32.add (local.get $wsp) (i32.const 4)))
      (local.set $asp (i32.add (local.get $asp) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
             (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))`;
}

const widenDot = (w, a, half) => `(i32x4.dot_i16x8_s (i16x8.extend_${half}_i8x16_s ${w}) (i16x8.extend_${half}_i8x16_s ${a}))`;
const simd128Dot = (w0, w1) =>
  `(local.set $p (i32x4.add (i32x4.add ${widenDot(w0, "(local.get $a0)", "low")} ${widenDot(w0, "(local.get $a0)", "high")})
                            (i32x4.add ${widenDot(w1, "(local.get $a1)", "low")} ${widenDot(w1, "(local.get $a1)", "high")})))`;
const splat8 = (value) => `(v128.const i8x16 ${Array(16).fill(value).join(" ")})`;
// a * w = (a * sign(w)) * |w|: -a where w < 0 ((a ^ m) - m, m = w < 0 ? -1 : 0); a = -128 never occurs in Q8_0.
const signed = (a, w) => `(local.set $m (i8x16.lt_s (local.get ${w}) ${splat8(0)}))
      (local.set ${a} (i8x16.sub (v128.xor (local.get ${a}) (local.get $m)) (local.get $m)))`;
const relaxed = (a, b) => `(i16x8.dot_i8x16_i7x16_s ${a} ${b})`;

const WAT = `(module
  (memory (export "memory") 1024)
  ${kernel("q8_simd128", 32, "(local $w0 v128) (local $w1 v128)", `(local.set $w0 (v128.load (local.get $wp)))
      (local.set $w1 (v128.load offset=16 (local.get $wp)))
      ${simd128Dot("(local.get $w0)", "(local.get $w1)")}`)}
  ${kernel("q8_relaxed", 32, "(local $w0 v128) (local $w1 v128) (local $m v128)", `(local.set $w0 (v128.load (local.get $wp)))
      (local.set $w1 (v128.load offset=16 (local.get $wp)))
      ${signed("$a0", "$w0")}
      ${signed("$a1", "$w1")}
      ;; each i16 lane holds two products of at most 127 x 127: widen before adding the halves
      (local.set $p (i32x4.add (i32x4.extadd_pairwise_i16x8_s ${relaxed("(local.get $a0)", "(i8x16.abs (local.get $w0))")})
                               (i32x4.extadd_pairwise_i16x8_s ${relaxed("(local.get $a1)", "(i8x16.abs (local.get $w1))")})))`)}
  ${kernel("q4_simd128", 16, "(local $q v128) (local $lo v128) (local $hi v128)", `(local.set $q (v128.load (local.get $wp)))
      (local.set $lo (i8x16.sub (v128.and (local.get $q) ${splat8(15)}) ${splat8(8)}))
      (local.set $hi (i8x16.sub (i8x16.shr_u (local.get $q) (i32.const 4)) ${splat8(8)}))
      ${simd128Dot("(local.get $lo)", "(local.get $hi)")}`)}
  ${kernel("q4_relaxed", 16, "(local $q v128)", `(local.set $q (v128.load (local.get $wp)))
      ;; sum a (n - 8) = sum a n - 8 sum a, in i16 lanes: |lane| <= 2 (2 x 15 x 127 + 2 x 8 x 127) < 32768
      (local.set $p (i32x4.extadd_pairwise_i16x8_s (i16x8.sub
        (i16x8.add ${relaxed("(local.get $a0)", `(v128.and (local.get $q) ${splat8(15)})`)} ${relaxed("(local.get $a1)", "(i8x16.shr_u (local.get $q) (i32.const 4))")})
        (i16x8.add ${relaxed("(local.get $a0)", splat8(8))} ${relaxed("(local.get $a1)", splat8(8))}))))`)}
  (type $dot (func (param i32 i32 i32 i32 i32) (result f32)))
  (table 4 funcref)
  (elem (i32.const 0) $q8_simd128 $q8_relaxed $q4_simd128 $q4_relaxed)
  ;; out[r] = kernel(row r, activations) for r < rows
  (func (export "matvec") (param $kernel i32) (param $w i32) (param $ws i32) (param $a i32) (param $as i32) (param $nb i32) (param $rows i32) (param $out i32)
    (local $r i32) (local $rowBytes i32)
    (local.set $rowBytes (i32.mul (local.get $nb) (select (i32.const 16) (i32.const 32) (i32.ge_u (local.get $kernel) (i32.const 2)))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
        (call_indirect (type $dot) (local.get $w) (local.get $ws) (local.get $a) (local.get $as) (local.get $nb) (local.get $kernel)))
      (local.set $w (i32.add (local.get $w) (local.get $rowBytes)))
      (local.set $ws (i32.add (local.get $ws) (i32.shl (local.get $nb) (i32.const 2))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $l)))
  )
  ;; known answers: the two relaxed dots on 16 bytes at 0 (a) and 16 (b), accumulator (i32x4) at 32, result at 48
  (func (export "dot16") (v128.store (i32.const 48) ${relaxed("(v128.load (i32.const 0))", "(v128.load (i32.const 16))")}))
  (func (export "dot32add") (v128.store (i32.const 48)
    (i32x4.dot_i8x16_i7x16_add_s (v128.load (i32.const 0)) (v128.load (i32.const 16)) (v128.load (i32.const 32)))))
)`;

/** The module's bytes, assembled by wasm-as (undefined and a reason when it cannot). */
function assemble() {
  const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-relaxed-"));
  try {
    writeFileSync(join(dir, "probe.wat"), WAT);
    execFileSync("wasm-as", ["--enable-simd", "--enable-relaxed-simd", join(dir, "probe.wat"), "-o", join(dir, "probe.wasm")], { stdio: ["ignore", "ignore", "pipe"] });
    return { bytes: readFileSync(join(dir, "probe.wasm")) };
  } catch (error) {
    return { reason: error.code === "ENOENT" ? "wasm-as (binaryen) is not on PATH: install emscripten or binaryen" : String(error.stderr ?? error.message) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { bytes, reason } = assemble();
if (bytes === undefined) {
  console.error(`cannot assemble the probe: ${reason}`);
  process.exit(1);
}
// 0xfd 0x94 0x02 = prefix 0xfd, LEB128 0x114: binaryen 108's i32x4.dot_i8x16_i7x16_add_s, used once (dot32add); a
// binaryen that writes the standard 0x113 leaves none. More than one would mean other bytes matched: rewrite nothing.
const uses = [];
for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0xfd && bytes[i + 1] === 0x94 && bytes[i + 2] === 0x02) uses.push(i);
if (uses.length === 1) bytes[uses[0] + 1] = 0x93;
if (uses.length > 1) console.log(`binaryen's pre-standard opcode 0x114 matched ${uses.length} times (expected 1): not rewritten`);
const rewrote = uses.length === 1;
if (!WebAssembly.validate(bytes)) {
  if (!process.execArgv.includes(FLAG)) {
    const child = spawnSync(process.execPath, [FLAG, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: "inherit" });
    process.exit(child.status ?? 1);
  }
  console.log(`Node ${process.version} (V8 ${process.versions.v8}) does not validate relaxed SIMD, even with ${FLAG}: nothing to measure`);
  process.exit(0);
}
const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes));
const flagged = process.execArgv.includes(FLAG);
console.log(`Node ${process.version} (V8 ${process.versions.v8})${flagged ? `, relaxed SIMD behind ${FLAG}` : ", relaxed SIMD on by default"}${rewrote ? "; binaryen's 0x114 rewritten to 0x113" : ""}`);

// Known answers. a = 1..16 against b = 1 (each i16 lane a pair, each i32 lane four); a = -100 against b = 0..15.
const i8 = new Int8Array(exports.memory.buffer);
const i16 = new Int16Array(exports.memory.buffer);
const i32 = new Int32Array(exports.memory.buffer);
function run(fn, a, b, accumulator) {
  i8.set(a, 0);
  i8.set(b, 16);
  i32.set(accumulator, 8);
  fn();
}
const ramp = Int8Array.from({ length: 16 }, (_, i) => i + 1);
const ones = new Int8Array(16).fill(1);
const pairs = (a, b) => Array.from({ length: 8 }, (_, j) => a[2 * j] * b[2 * j] + a[2 * j + 1] * b[2 * j + 1]);
const quads = (a, b, c) => {
  const p = pairs(a, b);
  return Array.from({ length: 4 }, (_, j) => c[j] + p[2 * j] + p[2 * j + 1]);
};
const checks = [];
for (const [a, b] of [[ramp, ones], [new Int8Array(16).fill(-100), Int8Array.from({ length: 16 }, (_, i) => i)]]) {
  run(exports.dot16, a, b, [0, 0, 0, 0]);
  checks.push({ what: "i16x8.relaxed_dot_i8x16_i7x16_s", want: pairs(a, b), got: Array.from(i16.subarray(24, 32)) });
  const accumulator = [100, -200, 300, -400];
  run(exports.dot32add, a, b, accumulator);
  checks.push({ what: "i32x4.relaxed_dot_i8x16_i7x16_add_s", want: quads(a, b, accumulator), got: Array.from(i32.subarray(12, 16)) });
}
const wrong = new Set();
for (const { what, want, got } of checks) {
  const ok = want.every((value, i) => value === got[i]);
  if (!ok) wrong.add(what);
  console.log(`${ok ? "ok  " : "WRONG"} ${what}: want ${want.join(",")}, got ${got.join(",")}`);
}
if (wrong.has("i16x8.relaxed_dot_i8x16_i7x16_s")) {
  console.log("the dot the kernels use is wrong in this V8: no timings");
  process.exit(1);
}

// The kernels: integer dots checked exactly (unit scales), then timed (random scales).
const f32 = new Float32Array(exports.memory.buffer);
let seed = 1;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
function measure(rows, reps, label = "") {
  const W = 0, WS = rows * NB * 32, A = WS + rows * NB * 4, AS = A + NB * 32, OUT = AS + NB * 4;
  for (let i = 0; i < rows * NB * 32; i++) i8[W + i] = Math.floor(random() * 255) - 127; // Q8_0 values: -127..127
  for (let i = 0; i < NB * 32; i++) i8[A + i] = Math.floor(random() * 255) - 127;
  const call = (k) => exports.matvec(k, W, WS, A, AS, NB, rows, OUT);
  f32.fill(1, WS / 4, WS / 4 + rows * NB);
  f32.fill(1, AS / 4, AS / 4 + NB);
  const outputs = [0, 1, 2, 3].map((k) => (call(k), Float32Array.from(f32.subarray(OUT / 4, OUT / 4 + rows))));
  const mismatches = [0, 2].map((k) => outputs[k].reduce((n, value, r) => n + (value === outputs[k + 1][r] ? 0 : 1), 0));
  for (let i = 0; i < rows * NB; i++) f32[WS / 4 + i] = random();
  for (let i = 0; i < NB; i++) f32[AS / 4 + i] = random();
  const best = [Infinity, Infinity, Infinity, Infinity];
  for (let round = 0; round < 7; round++) {
    for (let k = 0; k < 4; k++) {
      const started = performance.now();
      for (let rep = 0; rep < reps; rep++) call(k);
      best[k] = Math.min(best[k], (performance.now() - started) / reps);
    }
  }
  const speedUp = (k) => `${best[k].toFixed(3)} -> ${best[k + 1].toFixed(3)} ms (${(best[k] / best[k + 1]).toFixed(2)}x)`;
  console.log(`${label}${String(rows).padStart(6)} rows x ${NB * 32}: Q8_0 ${speedUp(0)}, Q4_0 ${speedUp(2)}; integer dots differing: Q8_0 ${mismatches[0]}, Q4_0 ${mismatches[1]}`);
}
console.log("one row of activations against N weight rows, SIMD128 -> relaxed, best of 7 (40,000 rows: 30.7 MB of Q8_0, 15.4 MB of Q4_0 weights, past L2):");
measure(2048, 200, "(warm-up: V8's optimizing tier) ");
measure(2048, 400);
measure(40_000, 20);
