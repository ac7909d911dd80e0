import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture, parseGguf, writeGguf } from "@hybrid-llm/core";
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
    const { code, out } = await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "1048576", "--slots", "8");
    expect(code).toBe(0);
    expect(out).toMatch(/shared pool \(unified\)\s+◀\s+1 × 1,048,576\s+6\.00 GiB\s+1\.00×/);
    expect(out).toMatch(/pre-fix llama\.cpp \(< PR #19559\)\s+8 × 1,048,576\s+48\.00 GiB\s+8\.00×/);
    expect(out).toMatch(/recurrent \(mamba2\)\s+23\s+47\.62 MiB\s+sequence\s+380\.94 MiB/);
    // Checkpoints are one sequence's recurrent state; the default budget is 4 per slot.
    expect(out).toMatch(/one checkpoint = 47\.62 MiB .*the default budget \(4 per slot\) 1\.49 GiB holds 32\./);
  });

  test("--checkpoint-budget: how many checkpoints a budget holds (text and JSON)", async () => {
    const text = await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "65536", "--slots", "8", "--checkpoint-budget", "1GiB");
    expect(text.out).toMatch(/--checkpoint-budget 1\.00 GiB holds 21\./);
    const json = JSON.parse((await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "65536", "--slots", "8", "--checkpoint-budget", "1GiB", "--json")).out);
    expect(json).toMatchObject({ checkpointBytes: 399441920 / 8, checkpointBudgetBytes: GiB, checkpointsInBudget: 21 });
    expect((await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--checkpoint-budget", "lots")).code).toBe(2);
  });

  test("--json has the documented number fields (no weights for a preset)", async () => {
    const { code, out } = await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--ctx", "1048576", "--slots", "8", "--json");
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
    const { code, out } = await cli("plan", "--no-measure", path, "--ctx", "10000", "--slots", "3", "--no-unified", "--kv-type", "q8_0", "--json");
    expect(code).toBe(0);
    const json = JSON.parse(out);
    const file = parseGguf(readFileSync(path));
    expect(json.weightsBytes).toBe(file.tensors.reduce((sum, t) => sum + t.byteSize, 0));
    // pad(10000) = 10240; 10240 / 3 = 3413 → 3584 cells per stream
    expect(json).toMatchObject({ kvStreams: 3, cellsPerStream: 3584, kvCells: 10752, kvTypeK: "q8_0", unified: false });
  });

  test("--budget fits the largest context, or says nothing fits", async () => {
    const fit = JSON.parse((await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--slots", "8", "--budget", "8GiB", "--json")).out);
    expect(fit.budget).toEqual({ bytes: 8 * GiB, fitted: "ctx", fits: true });
    expect(fit.totalBytes).toBeLessThanOrEqual(8 * GiB);
    expect(fit.nCtx).toBeGreaterThan(1_000_000);
    const none = await cli("plan", "--no-measure", "--preset", "nemotron3-nano-30b-a3b", "--slots", "8", "--budget", "100MiB");
    expect(none.code).toBe(0);
    expect(none.out).toMatch(/nothing fits/);
  });

  test("bad input: typed errors with exit 1, usage errors with exit 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-cli-"));
    const corrupt = join(dir, "corrupt.gguf");
    writeFileSync(corrupt, buildFixture("tiny").subarray(0, 5000));
    const truncated = await cli("plan", "--no-measure", corrupt);
    expect(truncated.code).toBe(1);
    expect(truncated.err).toMatch(/Invalid GGUF at byte \d+: /);

    const unknownPreset = await cli("plan", "--no-measure", "--preset", "gpt-9");
    expect(unknownPreset.code).toBe(2);
    expect(unknownPreset.err).toMatch(/unknown preset "gpt-9" \(one of nemotron3-nano-30b-a3b/);

    const zeroSlots = await cli("plan", "--no-measure", "--preset", "lfm2-1.2b", "--slots", "0");
    expect(zeroSlots.code).toBe(1);
    expect(zeroSlots.err).toMatch(/slots must be an integer in \[1, 256\], got 0/);

    expect((await cli("plan", "--no-measure", "--preset", "lfm2-1.2b", "--kv-type", "q9")).code).toBe(2);
    expect((await cli("plan", "--no-measure", "--preset", "lfm2-1.2b", "--bogus")).code).toBe(2);
    expect((await cli("frobnicate")).code).toBe(2);
  });
});

describe("hybrid-llm help and errors a newcomer meets", () => {
  test("help <command> prints that command's usage; an unknown topic is a usage error", async () => {
    const serve = await cli("help", "serve");
    expect(serve.code).toBe(0);
    expect(serve.out).toMatch(/^hybrid-llm serve --model <file> \[options\]/);
    expect(serve.out).toBe((await cli("serve", "--help")).out);
    expect(serve.out).toMatch(/--max-event-clients <n> most open GET \/v1\/engine\/events streams[^]*?\(default: 16\)/);
    for (const command of ["demo", "plan", "generate", "chat", "bench", "fixture"]) {
      expect((await cli("help", command)).out).toMatch(new RegExp(`^hybrid-llm ${command} `));
    }
    const general = await cli("help");
    expect(general.code).toBe(0);
    expect(general.out).toMatch(/Exit codes: 0 done; 1 the command failed/);
    const unknown = await cli("help", "frobnicate");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^hybrid-llm help: unknown command "frobnicate"/);
    expect((await cli("help", "constructor")).code).toBe(2);
    expect((await cli("constructor")).code).toBe(2);
  });

  test("a missing model file is one line and exit 1 in every command that takes one, before any backend starts", async () => {
    const runs = {
      generate: ["generate", "--model", "nope.gguf", "--prompt", "hi"],
      serve: ["serve", "--model", "nope.gguf"],
      bench: ["bench", "--model", "nope.gguf"],
      chat: ["chat", "--model", "nope.gguf"],
      demo: ["demo", "--model", "nope.gguf"],
      plan: ["plan", "nope.gguf"],
      "plan --verify": ["plan", "nope.gguf", "--verify"],
    };
    for (const [label, argv] of Object.entries(runs)) {
      const { code, out, err } = await cli(...argv);
      expect({ label, code, err }).toEqual({ label, code: 1, err: `hybrid-llm ${argv[0]}: no such model file: nope.gguf` });
      expect(out).not.toMatch(/hybrid-llm/);
    }
    const folder = await cli("generate", "--model", tmpdir(), "--prompt", "hi");
    expect(folder.code).toBe(1);
    expect(folder.err).toBe(`hybrid-llm generate: not a model file: ${tmpdir()} is a directory or a device, not a GGUF file`);
  });

  test("a file that is not a model: one line, exit 1, in generate and plan (a text file, an unsupported architecture)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hybrid-llm-cli-"));
    const text = join(dir, "notes.txt");
    writeFileSync(text, "not a model\n");
    const bert = join(dir, "bert.gguf");
    writeFileSync(bert, writeGguf(new Map([["general.architecture", { type: "string", value: "bert" }]]), []));
    for (const argv of [["generate", "--model", text, "--prompt", "hi", "--gpu", "off"], ["plan", text]]) {
      const { code, err } = await cli(...argv);
      expect({ argv, code }).toEqual({ argv, code: 1 });
      expect(err).toMatch(new RegExp(`^hybrid-llm ${argv[0]}: Invalid GGUF at byte 0: [^\n]+$`));
    }
    for (const argv of [["generate", "--model", bert, "--prompt", "hi", "--gpu", "off"], ["plan", bert]]) {
      const { code, err } = await cli(...argv);
      expect({ argv, code }).toEqual({ argv, code: 1 });
      expect(err).toMatch(new RegExp(`^hybrid-llm ${argv[0]}: [^\n]*"bert"[^\n]*$`));
    }
  });

  test("the general help documents the exit codes and the model URIs; pull has its help", async () => {
    const general = (await cli("help")).out;
    expect(general).toMatch(/2 a usage error[\s\S]*3 a model download failed/);
    expect(general).toMatch(/--model takes a GGUF file, hf:<owner>\/<repo>\/<file\.gguf>/);
    expect((await cli("help", "pull")).out).toMatch(/^hybrid-llm pull <hf:owner\/repo\/file\.gguf/);
  });

  test("--gpu: one default (auto) documented in every command, an unknown value a usage error listing the values", async () => {
    for (const command of ["demo", "serve", "plan", "generate", "chat", "bench"]) {
      expect((await cli("help", command)).out).toMatch(/--gpu <api>\s+(llama\.cpp build for --verify: )?auto, cuda, vulkan, metal, off \(default: auto\b/);
    }
    const runs = [
      ["generate", "--model", "nope.gguf", "--prompt", "hi", "--gpu", "rocm"],
      ["serve", "--model", "nope.gguf", "--gpu", "rocm"],
      ["bench", "--model", "nope.gguf", "--gpu", "rocm"],
      ["chat", "--model", "nope.gguf", "--gpu", "rocm"],
      ["demo", "--gpu", "rocm"],
      ["plan", "nope.gguf", "--gpu", "rocm"],
    ];
    for (const argv of runs) {
      const { code, err } = await cli(...argv);
      expect({ argv, code }).toEqual({ argv, code: 2 });
      expect(err).toMatch(new RegExp(`^hybrid-llm ${argv[0]}: --gpu must be one of auto, cuda, vulkan, metal, off, got "rocm"\\n\\nhybrid-llm ${argv[0]} `));
    }
    const wasmCuda = await cli("generate", "--model", "nope.gguf", "--prompt", "hi", "--backend", "wasm", "--gpu", "cuda");
    expect(wasmCuda.code).toBe(2);
    expect(wasmCuda.err).toMatch(/--gpu cuda needs --backend node: the Wasm backend runs on the CPU/);
    // serve's server and queue numbers are checked before the model is opened (nope.gguf would fail later)
    for (const [flag, value] of [["--max-event-clients", "0"], ["--write-timeout", "soon"], ["--port", "80.5"], ["--max-queue", "x"]]) {
      const bad = await cli("serve", "--model", "nope.gguf", flag!, value!);
      expect({ flag, code: bad.code }).toEqual({ flag, code: 2 });
      expect(bad.err).toMatch(new RegExp(`^hybrid-llm serve: ${flag} must be an integer`));
    }
    const badBackend = await cli("serve", "--model", "nope.gguf", "--backend", "gpu");
    expect(badBackend.code).toBe(2);
    expect(badBackend.err).toMatch(/--backend must be one of node, wasm, got "gpu"/);
  });
});
