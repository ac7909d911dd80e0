import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  InvalidArgumentError,
  InvalidPlanError,
  ModelFileError,
  type NativeBinding,
  cacheSpecFromMetadata,
  modelPresets,
  parseGguf,
  buildFixture,
  planMemory,
  presetTwin,
} from "@hybrid-llm/core";
import { readGgufFile, weightlessPresetFile, writeWeightlessGguf } from "@hybrid-llm/core/node";
import { NodeBackend, addonPath } from "@hybrid-llm/node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

// llama.cpp's no_alloc: a model of real dimensions (a weightless twin: header + sparse data) measured without
// allocating anything. Cheap: no weight is read, no KV cache or compute buffer allocated.
const cacheDir = fileURLToPath(new URL("../.cache/weightless/", import.meta.url));

/** What `f` rejected with; fails the test when it resolved. */
async function catchAsync(f: () => Promise<unknown>): Promise<unknown> {
  try {
    await f();
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

let backend: NodeBackend;
beforeAll(async () => {
  backend = await NodeBackend.create({ gpu: false });
});
afterAll(async () => {
  await backend?.dispose();
});

describe("a weightless GGUF measures exactly what the real file allocates", () => {
  test.each(["tiny", "lfm2-tiny", "kimi-linear-tiny", "qwen35moe-tiny"])("%s: context and compute bytes, no_alloc on the weightless copy == real allocation", async (profile) => {
    const real = await fixturePath(profile);
    const file = parseGguf(buildFixture(profile));
    const weightless = join(cacheDir, `fixture-${profile}.gguf`);
    const size = await writeWeightlessGguf(weightless, file.metadata, file.tensors);
    expect((await readGgufFile(weightless)).tensors).toEqual(file.tensors);
    expect(size).toBe(buildFixture(profile).length);
    for (const options of [{ ctx: 4096, slots: 4 }, { ctx: 3000, slots: 3, unified: false, flashAttention: false }]) {
      const model = await backend.loadModel({ path: real });
      const context = await model.createContext({ ...options, threads: 1 });
      const allocated = context.allocation()!;
      await model.dispose();
      const [measured] = await backend.measureAllocations(weightless, [{ ...options, threads: 1 }]);
      expect(measured!.nCtx).toBe(context.info.nCtx);
      expect(measured!.contextBytes).toBe(allocated.contextBytes);
      expect(measured!.computeBytes).toBe(allocated.computeBytes);
      expect(measured!.computeBytes).toBeGreaterThan(0);
    }
  });
});

describe("every published preset: planned == llama.cpp's allocation at real dimensions (no_alloc)", () => {
  test.each(modelPresets().map((preset) => [preset.id, preset] as const))("%s", async (_id, preset) => {
    const path = await weightlessPresetFile(preset.id, cacheDir);
    // The twin llama.cpp loads has the preset's cache geometry.
    const twin = cacheSpecFromMetadata(presetTwin(preset.id).metadata);
    expect(twin.attention).toEqual(preset.spec.attention);
    expect(twin.recurrent).toEqual(preset.spec.recurrent);
    // Two points, one model load: 1,048,576 tokens on one slot, and 2 per-slot streams of 16,384 cells. (llama.cpp's
    // no_alloc still allocates the recurrent state for real — llama_memory_recurrent ignores it — so few slots.)
    const points = [
      { ctx: 1_048_576, slots: 1 },
      { ctx: 32_768, slots: 2, unified: false },
    ];
    const plans = points.map((point) => planMemory(preset.spec, { ...point, kvType: "f16" }));
    const measured = await backend.measureAllocations(path, points.map((point) => ({ ...point, threads: 1 })));
    measured.forEach((m, i) => {
      const plan = plans[i]!;
      expect(m.nCtx).toBe(plan.nCtx);
      expect(m.contextBytes).toBe(plan.attentionKvBytes + plan.recurrentStateBytes);
    });
    // KV grows with cells, recurrent state with slots: the two totals give each apart (a 2 × 2 system).
    const [a, b] = measured as [(typeof measured)[0], (typeof measured)[0]];
    const [pa, pb] = plans as [(typeof plans)[0], (typeof plans)[0]];
    const det = a.nCtx * pb.options.slots - b.nCtx * pa.options.slots;
    const kvPerCell = (a.contextBytes * pb.options.slots - b.contextBytes * pa.options.slots) / det;
    const recurrentPerSlot = (a.nCtx * b.contextBytes - b.nCtx * a.contextBytes) / det;
    expect(kvPerCell).toBe(pa.attentionBytesPerCell);
    expect(recurrentPerSlot).toBe(pa.recurrentBytesPerSequence);
  });
});

describe("measureAllocations refuses bad input before llama.cpp sees it", () => {
  test("bad options, a missing file, not an array", async () => {
    const path = await fixturePath("tiny");
    expect(InvalidPlanError.isInstance(await catchAsync(() => backend.measureAllocations(path, [{ ctx: -5 }])))).toBe(true);
    expect(InvalidArgumentError.isInstance(await catchAsync(() => backend.measureAllocations(path, [{ ctx: 256, ubatch: 0 }])))).toBe(true);
    expect(InvalidArgumentError.isInstance(await catchAsync(() => backend.measureAllocations(path, { ctx: 256 } as never)))).toBe(true);
    expect(ModelFileError.isInstance(await catchAsync(() => backend.measureAllocations(join(cacheDir, "missing.gguf"), [{ ctx: 256 }])))).toBe(true);
  });

  test("a context over a no_alloc model only measures: decode and state calls are refused, the process survives", async () => {
    const binding = createRequire(import.meta.url)(addonPath) as NativeBinding;
    const model = new binding.Model();
    expect(() => model.load(buildFixture("tiny"), { noAlloc: true })).toThrow(/noAlloc needs a path/);
    await model.load(await fixturePath("tiny"), { noAlloc: true });
    const context = new binding.Context(model);
    await context.create({ ctx: 256, slots: 1, unified: true, batch: 512, ubatch: 512, typeK: 1, typeV: 1, flashAttention: true, recurrentSnapshots: 0 });
    expect(context.info().nCtx).toBe(256);
    expect(context.allocation()![0]!.compute).toBeGreaterThan(0);
    const one = Int32Array.of(1);
    expect(() => context.decode(one, Int32Array.of(0), Int32Array.of(0), Uint8Array.of(1), false)).toThrow(/only measures/);
    expect(() => context.getState(0, 0)).toThrow(/only measures/);
    expect(() => context.seqRemove(0, 0, -1)).toThrow(/only measures/);
    context.dispose();
    model.dispose();
  });
});
