import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, parseGguf } from "@hybrid-llm/core";
import { describe, expect, test } from "vitest";
import { runCli } from "./run-cli.js";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

const GiB = 1024 ** 3;

describe("hybrid-llm plan", () => {
  test("Nemotron 3 Nano at 1M × 8: 6.00 GiB shared vs 48.00 GiB pre-fix, 380.94 MiB recurrent", async () => {
    const { code, out } = await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "1048576", "--slots", "8");
    expect(code).toBe(0);
    expect(out).toMatch(/shared pool \(unified\)\s+◀\s+1 × 1,048,576\s+6\.00 GiB\s+1\.00×/);
    expect(out).toMatch(/pre-fix llama\.cpp \(< PR #19559\)\s+8 × 1,048,576\s+48\.00 GiB\s+8\.00×/);
    expect(out).toMatch(/recurrent \(mamba2\)\s+23\s+47\.62 MiB\s+sequence\s+380\.94 MiB/);
    // Checkpoints are one sequence's recurrent state; the default budget is 4 per slot.
    expect(out).toMatch(/one checkpoint = 47\.62 MiB .*the default budget \(4 per slot\) 1\.49 GiB holds 32\./);
  });

  test("--checkpoint-budget: how many checkpoints a budget holds (text and JSON)", async () => {
    const text = await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "65536", "--slots", "8", "--checkpoint-budget", "1GiB");
    expect(text.out).toMatch(/--checkpoint-budget 1\.00 GiB holds 21\./);
    const json = JSON.parse((await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "65536", "--slots", "8", "--checkpoint-budget", "1GiB", "--json")).out);
    expect(json).toMatchObject({ checkpointBytes: 399441920 / 8, checkpointBudgetBytes: GiB, checkpointsInBudget: 21 });
    expect((await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--checkpoint-budget", "lots")).code).toBe(2);
  });

  test("--json has the documented number fields (no weights for a preset)", async () => {
    const { code, out } = await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "1048576", "--slots", "8", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    expect(json).toMatchObject({
      attentionKvBytes: 6 * GiB,
      perStreamAttentionKvBytes: 48 * GiB,
      recurrentStateBytes: 399441920,
      kvCells: 1048576,
      kvStreams: 1,
      cellsPerStream: 1048576,
    });
    expect("weightsBytes" in json).toBe(false);
  });

  test("a generated fixture file: weights from its tensor table, per-slot streams when asked", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-cli-"));
    const path = join(dir, "tiny.gguf");
    expect((await cli("fixture", "tiny", "--out", path)).code).toBe(0);
    expect(readFileSync(path)).toEqual(Buffer.from(buildFixture("tiny")));
    const { code, out } = await cli("plan", path, "--ctx", "10000", "--slots", "3", "--no-unified", "--kv-type", "q8_0", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    const file = parseGguf(readFileSync(path));
    expect(json.weightsBytes).toBe(file.tensors.reduce((sum, t) => sum + t.byteSize, 0));
    // pad(10000) = 10240; 10240 / 3 = 3413 → 3584 cells per stream
    expect(json).toMatchObject({ kvStreams: 3, cellsPerStream: 3584, kvCells: 10752, kvTypeK: "q8_0", unified: false });
  });

  test("--budget fits the largest context, or says nothing fits", async () => {
    const fit = JSON.parse((await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--slots", "8", "--budget", "8GiB", "--json")).out);
    expect(fit.budget).toEqual({ bytes: 8 * GiB, fitted: "ctx", fits: true });
    expect(fit.totalBytes).toBeLessThanOrEqual(8 * GiB);
    expect(fit.nCtx).toBeGreaterThan(1_000_000);
    const none = await cli("plan", "--preset", "nemotron3-nano-30b-a3b", "--slots", "8", "--budget", "100MiB");
    expect(none.code).toBe(0);
    expect(none.out).toMatch(/nothing fits/);
  });

  test("bad input: typed errors with exit 1, usage errors with exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-cli-"));
    const corrupt = join(dir, "corrupt.gguf");
    writeFileSync(corrupt, buildFixture("tiny").subarray(0, 5000));
    const truncated = await cli("plan", corrupt);
    expect(truncated.code).toBe(1);
    expect(truncated.err).toMatch(/Invalid GGUF at byte \d+: /);

    const unknownPreset = await cli("plan", "--preset", "gpt-9");
    expect(unknownPreset.code).toBe(2);
    expect(unknownPreset.err).toMatch(/unknown preset "gpt-9" \(one of nemotron3-nano-30b-a3b/);

    const zeroSlots = await cli("plan", "--preset", "lfm2-1.2b", "--slots", "0");
    expect(zeroSlots.code).toBe(1);
    expect(zeroSlots.err).toMatch(/slots must be an integer in \[1, 256\], got 0/);

    expect((await cli("plan", "--preset", "lfm2-1.2b", "--kv-type", "q9")).code).toBe(2);
    expect((await cli("plan", "--preset", "lfm2-1.2b", "--bogus")).code).toBe(2);
    expect((await cli("frobnicate")).code).toBe(2);
  });
});
