import { type KvCacheType, cacheSpecFromMetadata, parseGguf, planMemory } from "@hybrid-llm/core";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";
import { mibAsLlamaPrints, parseAllocationLog } from "./support/llama-log.js";
import { CapturedLlama } from "./support/node-llama-cpp.js";

/**
 * The planner against what llama.cpp really allocates, read from its own log lines. node-llama-cpp always
 * creates non-unified contexts (one KV stream per sequence); with one sequence that is also the unified layout.
 * Exact-byte comparison through the project's own backend comes with the native binding.
 */
const points: { profile: string; ctxPerSequence: number; sequences: number; kvType: KvCacheType }[] = [
  { profile: "tiny", ctxPerSequence: 4096, sequences: 1, kvType: "f16" },
  { profile: "tiny", ctxPerSequence: 1000, sequences: 3, kvType: "f16" },
  { profile: "tiny", ctxPerSequence: 8192, sequences: 8, kvType: "q8_0" },
  { profile: "tiny", ctxPerSequence: 2048, sequences: 64, kvType: "q4_0" },
  { profile: "nemotron-3-nano-twin", ctxPerSequence: 131072, sequences: 1, kvType: "f16" },
  { profile: "nemotron-3-nano-twin", ctxPerSequence: 4096, sequences: 8, kvType: "q8_0" },
  { profile: "nemotron-3-nano-twin", ctxPerSequence: 1536, sequences: 5, kvType: "q4_0" },
];

let captured: CapturedLlama;
beforeAll(async () => {
  captured = await CapturedLlama.get();
});

describe.each(["tiny", "nemotron-3-nano-twin"])("%s", (profile) => {
  let path: string;
  let model: Awaited<ReturnType<CapturedLlama["llama"]["loadModel"]>>;
  beforeAll(async () => {
    path = await fixturePath(profile);
    model = await captured.llama.loadModel({ modelPath: path });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  test.each(points.filter((p) => p.profile === profile))(
    "ctx $ctxPerSequence × $sequences sequences, $kvType: planned == allocated",
    async ({ ctxPerSequence, sequences, kvType }) => {
      captured.takeLog();
      const context = await model.createContext({
        contextSize: ctxPerSequence,
        sequences,
        threads: 1,
        batchSize: 256,
        flashAttention: true,
        experimentalKvCacheKeyType: kvType.toUpperCase() as never,
        experimentalKvCacheValueType: kvType.toUpperCase() as never,
      });
      const logged = parseAllocationLog(captured.takeLog());
      await context.dispose();

      const spec = cacheSpecFromMetadata(parseGguf(readFileSync(path)).metadata);
      const plan = planMemory(spec, { ctx: logged.nCtx, slots: logged.nSeqMax, kvType, unified: false, flashAttention: true });
      expect(logged.nSeqMax).toBe(sequences);
      expect(plan.nCtx).toBe(logged.nCtx);
      expect(plan.cellsPerStream).toBe(logged.nCtxSeq);
      expect(logged.kv).toEqual({
        cells: plan.cellsPerStream,
        layers: plan.attentionLayerCount,
        seqs: sequences,
        streams: plan.kvStreams,
        totalMiB: mibAsLlamaPrints(plan.attentionKvBytes),
        kMiB: mibAsLlamaPrints(plan.attentionKBytes),
        vMiB: mibAsLlamaPrints(plan.attentionVBytes),
        kType: kvType,
        vType: kvType,
      });
      expect(logged.recurrent).toEqual({
        cells: plan.recurrentRows,
        totalMiB: mibAsLlamaPrints(plan.recurrentStateBytes),
        rMiB: mibAsLlamaPrints(plan.recurrentConvBytes),
        sMiB: mibAsLlamaPrints(plan.recurrentSsmBytes),
      });
    },
  );
});
