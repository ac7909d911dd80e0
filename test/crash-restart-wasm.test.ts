import { BackendError, Engine, buildFixture, type StreamPart } from "@hybrid-llm/core";
import { withFaults } from "@hybrid-llm/core/testing";
import { WasmBackend } from "@hybrid-llm/wasm";
import { expect, test } from "vitest";

// A real crash of the Wasm module (a trap, as a failed GGML_ASSERT would give) in the middle of serving: the engine
// fails the requests that were running with a typed error, reopens the backend, and serves the queued ones there
// with exactly the tokens a healthy backend gives.
test("a Wasm trap mid-decode: running requests fail typed, the engine reopens the backend, queued requests get their cold tokens", async () => {
  const bytes = buildFixture("tiny");
  const backends: WasmBackend[] = [];
  const open = async (crashAtDecode: number | undefined) => {
    const backend = await WasmBackend.create();
    backends.push(backend);
    const faulty = withFaults(backend, (point, call) => (point === "decode" && call === crashAtDecode ? "crash" : undefined));
    const model = await faulty.loadModel({ bytes });
    return { model, context: await model.createContext({ ctx: 1024, slots: 2, threads: 1 }) };
  };
  try {
    const reference = await open(undefined);
    const first = await open(6);
    const crashes: BackendError[] = [];
    const engine = new Engine({
      ...first,
      reopen: async (crash) => {
        crashes.push(crash);
        await backends[1]!.dispose();
        return open(undefined);
      },
    });
    const prompts = ["the cat sat on", "once upon a time", "abc def", "to be or not"].map((text) => reference.model.tokenize(text));
    const request = (prompt: Int32Array) => ({ prompt, temperature: 0, maxTokens: 24, stopTokens: [], ignoreEndOfGeneration: true });
    const collect = async (stream: AsyncIterable<StreamPart>) => {
      const parts: StreamPart[] = [];
      for await (const part of stream) parts.push(part);
      return parts;
    };
    const results = await Promise.all(prompts.map((prompt) => collect(engine.generate(request(prompt)))));

    expect(crashes.length).toBe(1);
    expect(crashes[0]!.code).toBe("crashed");
    const cold = new Engine(reference);
    for (const [i, parts] of results.entries()) {
      expect(parts.filter((p) => p.type === "finish").length).toBe(1);
      const error = parts.find((p) => p.type === "error");
      if (i < 2) {
        // Running at the crash (2 slots): failed with the typed crash.
        expect(error !== undefined && BackendError.isInstance(error.error) && error.error.code === "crashed").toBe(true);
        continue;
      }
      expect(error).toBeUndefined();
      const tokens = parts.flatMap((p) => (p.type === "token" ? [p.token] : []));
      expect(tokens).toEqual((await cold.complete(request(prompts[i]!))).tokens);
    }
    const stats = engine.stats();
    expect([stats.state, stats.restarts, stats.slotsBusy, stats.queueDepth]).toEqual(["running", 1, 0, 0]);
    // The reopened backend keeps serving, with its own prefix cache: a next turn resumes from the answer's end.
    const answer = results[2]!.flatMap((p) => (p.type === "token" ? [p.token] : []));
    const turn = Int32Array.from([...prompts[2]!, ...answer, ...reference.model.tokenize(" and then", { addSpecial: false })]);
    const again = await engine.complete(request(turn));
    expect(again.usage.cachedPromptTokens).toBe(prompts[2]!.length + answer.length - 1);
    expect(again.tokens).toEqual((await cold.complete(request(turn))).tokens);
    await engine.dispose();
    await cold.dispose();
  } finally {
    for (const backend of backends) await backend.dispose();
  }
});
