import { Engine, type GenerateRequest, InvalidArgumentError, type StreamPart } from "@hybrid-llm/core";
import { MockBackend } from "@hybrid-llm/core/testing";
import OpenAI from "openai";
import { describe, expect, test } from "vitest";
import { createServer } from "./create-server.js";
import type { SamplingDefaults } from "./sampling-fields.js";

/**
 * The OpenAI surface's request mapping and response shapes, on the mock backend: what each field becomes in the
 * engine request (recorded), what is refused, and how scripted engine streams (tokens with log-probabilities, tool
 * calls) come out, streaming and not. Real sampling, grammars and logprobs are tested on llama.cpp in
 * test/server-openai-*.test.ts.
 */
async function setup(options: { template?: string; sampling?: SamplingDefaults; script?: (request: GenerateRequest, index: number) => StreamPart[] } = {}) {
  const model = await new MockBackend().loadModel();
  const engine = new Engine({ model, context: await model.createContext({ ctx: 2048, slots: 4 }) });
  const requests: (GenerateRequest & Record<string, unknown>)[] = [];
  const generate = engine.generate.bind(engine);
  engine.generate = (request: GenerateRequest) => {
    requests.push(request as GenerateRequest & Record<string, unknown>);
    const script = options.script;
    if (script === undefined) return generate(request);
    const parts = script(request, requests.length - 1);
    return (async function* () {
      yield* parts;
    })();
  };
  const errors: unknown[] = [];
  const app = createServer({ engine, modelName: "mock", onError: (error) => errors.push(error), ...(options.template === undefined ? {} : { chatTemplate: options.template }), ...(options.sampling === undefined ? {} : { sampling: options.sampling }) });
  const post = async (path: string, body: Record<string, unknown>) => {
    const response = await app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "mock", ...body }) });
    return { status: response.status, text: await response.text() };
  };
  const json = async (path: string, body: Record<string, unknown>) => {
    const { status, text } = await post(path, body);
    return { status, body: JSON.parse(text) as Record<string, any> };
  };
  return { app, engine, model, requests, post, json, errors };
}

const messages = [{ role: "user", content: "hi" }];
const usage = { promptTokens: 5, completionTokens: 3, cachedPromptTokens: 0 };
/** A stream that "generates" `text` as one token per character (mock tokens are bytes + 4), with log-probabilities. */
function scripted(text: string, reason: "stop" | "length" = "stop", logprobs = true): StreamPart[] {
  const parts: StreamPart[] = [{ type: "start", requestId: 1, slot: 0, promptTokens: 5, cachedTokens: 0 }];
  for (const char of text) {
    const token = char.charCodeAt(0) + 4;
    parts.push({ type: "token", token, margin: 1, ...(logprobs ? { logprob: -0.5, topLogprobs: [{ token, logprob: -0.5 }, { token: 4 + 65, logprob: -1.5 }] } : {}) } as StreamPart);
    parts.push({ type: "text-delta", text: char });
  }
  parts.push({ type: "finish", reason, usage: { ...usage, completionTokens: text.length }, text });
  return parts;
}

/** The `data:` payloads of an SSE body. */
const events = (text: string) => text.split("\n").filter((line) => line.startsWith("data: ")).map((line) => line.slice(6));

describe("request fields -> engine request", () => {
  test("sampling fields are mapped by name; defaults are OpenAI's unless the server sets its own", async () => {
    const { json, requests } = await setup();
    expect((await json("/v1/chat/completions", { messages, max_tokens: 2 })).status).toBe(200);
    expect(requests[0]).toMatchObject({ temperature: 1, topP: 1, topK: 0, minP: 0 });
    expect(requests[0]).not.toHaveProperty("seed");
    const body = { messages, max_tokens: 2, temperature: 0.7, top_p: 0.9, top_k: 20, min_p: 0.1, typical_p: 0.8, repeat_penalty: 1.1, presence_penalty: 0.5, frequency_penalty: -0.5, seed: 42, logit_bias: { "70": 5, "71": -100 } };
    expect((await json("/v1/chat/completions", body)).status).toBe(200);
    expect(requests[1]).toMatchObject({ temperature: 0.7, topP: 0.9, topK: 20, minP: 0.1, typicalP: 0.8, repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: -0.5, seed: 42 });
    expect(requests[1]!.logitBias).toEqual({ 70: 5, 71: Number.NEGATIVE_INFINITY });
    expect((await json("/v1/completions", { prompt: "x", max_tokens: 2, repetition_penalty: 1.2, seed: -1 })).status).toBe(200);
    expect(requests[2]).toMatchObject({ repetitionPenalty: 1.2, seed: 0xffffffff });

    const served = await setup({ sampling: { temperature: 0.6, topP: 0.95, topK: 40, minP: 0.05 } });
    await served.json("/v1/chat/completions", { messages, max_tokens: 2 });
    expect(served.requests[0]).toMatchObject({ temperature: 0.6, topP: 0.95, topK: 40, minP: 0.05 });
    await served.json("/v1/chat/completions", { messages, max_tokens: 2, temperature: 0, top_k: 0 });
    expect(served.requests[1]).toMatchObject({ temperature: 0, topK: 0 });
  });

  test("out-of-range or mistyped fields are a 400 naming the field; nothing is queued", async () => {
    const { json, requests } = await setup();
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 100; i++) deep = { type: "array", items: deep };
    const cases: [string, Record<string, unknown>][] = [
      ["temperature", { temperature: 2.5 }],
      ["temperature", { temperature: "hot" }],
      ["top_p", { top_p: 0 }],
      ["top_k", { top_k: 1.5 }],
      ["min_p", { min_p: -0.1 }],
      ["typical_p", { typical_p: 2 }],
      ["repeat_penalty", { repeat_penalty: 0 }],
      ["repetition_penalty", { repeat_penalty: 1.1, repetition_penalty: 1.2 }],
      ["presence_penalty", { presence_penalty: 2.5 }],
      ["frequency_penalty", { frequency_penalty: -3 }],
      ["seed", { seed: 1.5 }],
      ["logit_bias", { logit_bias: { "70": 101 } }],
      ["logit_bias", { logit_bias: { abc: 1 } }],
      ["logit_bias", { logit_bias: { "100000": 1 } }],
      ["logit_bias", { logit_bias: [1] }],
      ["n", { n: 0 }],
      ["n", { n: 17 }],
      ["logprobs", { logprobs: 1 }],
      ["top_logprobs", { logprobs: true, top_logprobs: 21 }],
      ["top_logprobs", { top_logprobs: 2 }],
      ["response_format", { response_format: { type: "xml" } }],
      ["response_format", { response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "^a" } } } }],
      ["response_format", { response_format: { type: "json_schema", json_schema: { name: "bad name!", schema: {} } } }],
      ["tools", { tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { type: "number", minimum: 0 } } } } }] }],
      ["tools", { tools: [{ type: "function", function: { name: "f" } }, { type: "function", function: { name: "f" } }] }],
      ["tools", { tools: [{ type: "retrieval" }] }],
      ["tool_choice", { tools: [{ type: "function", function: { name: "f" } }], tool_choice: { type: "function", function: { name: "g" } } }],
      ["tool_choice", { tool_choice: "required" }],
      ["parallel_tool_calls", { parallel_tool_calls: "yes" }],
      ["tools", { tools: [{ type: "function", function: { name: "f" } }], tool_choice: "required", response_format: { type: "json_object" } }],
      ["grammar", { grammar: 5 }],
      ["messages", { messages: [{ role: "tool", content: "x" }] }],
      ["messages", { messages: [{ role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: {} } }] }] }],
      ["messages[0].name", { messages: [{ role: "user", content: "hi", name: "bob" }] }],
      ["messages[1].refusal", { messages: [...messages, { role: "assistant", content: "x", refusal: "no" }] }],
      ["messages[0].tool_call_id", { messages: [{ role: "user", content: "hi", tool_call_id: "1" }] }],
      ["stream_options", { stream_options: { include_usage: true } }],
      ["stream_options", { stream: false, stream_options: { include_usage: false } }],
      ["stream_options", { stream: true, stream_options: { include_usage: "yes" } }],
      ["stream_options", { stream: true, stream_options: { include_obfuscation: false } }],
      ["stream_options", { stream: true, stream_options: [true] }],
      ["store", { store: true }],
      ["max_completion_tokens", { max_completion_tokens: 3 }],
      ["response_format", { response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", maxLength: 2100 } } } }],
      ["response_format", { response_format: { type: "json_schema", json_schema: { name: "x", schema: deep } } }],
      ["tools", { tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: deep } } } }] }],
    ];
    for (const [param, fields] of cases) {
      const { status, body } = await json("/v1/chat/completions", { messages, max_tokens: 2, ...fields });
      expect(status, JSON.stringify(fields)).toBe(400);
      expect(body.error.param, JSON.stringify(fields)).toBe(param);
      expect(body.error.message, JSON.stringify(fields)).toMatch(/\w/);
    }
    const { body: pattern } = await json("/v1/chat/completions", { messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "object", properties: { a: { type: "string", pattern: "^a" } } } } } });
    expect(pattern.error.message).toMatch(/\/properties\/a\/pattern.*"pattern" cannot be enforced/);
    expect((await json("/v1/completions", { prompt: "x", logprobs: 6 })).body.error.param).toBe("logprobs");
    expect((await json("/v1/completions", { prompt: "x", top_logprobs: 2 })).body.error.param).toBe("top_logprobs");
    expect(requests).toHaveLength(0);
  });

  test("a body nested past 128 levels is a 400, not a stack overflow, whatever field holds it", async () => {
    const { app, requests } = await setup();
    const nested = "[".repeat(200_000) + "]".repeat(200_000);
    const tools = `[{"type":"function","function":{"name":"f","parameters":{"type":"object","default":${nested}}}}]`;
    for (const extra of [`"metadata":${nested}`, `"tools":${tools},"tool_choice":"none"`]) {
      const response = await app.request("/v1/chat/completions", { method: "POST", headers: { "content-type": "application/json" }, body: `{"model":"mock","messages":[{"role":"user","content":"hi"}],${extra}}` });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(/deeper than 128/);
    }
    expect(requests).toHaveLength(0);
  });

  test("fields without effect are accepted only in their neutral form; null message keys are absent", async () => {
    const { json, requests } = await setup();
    const echoed = [...messages, { role: "assistant", content: "x", refusal: null, name: null }, { role: "user", content: "y" }];
    const fields = { messages: echoed, max_tokens: 2, max_completion_tokens: 2, store: false, user: "u", metadata: { a: "b" }, service_tier: "auto", stream_options: null };
    expect((await json("/v1/chat/completions", fields)).status).toBe(200);
    expect(requests[0]!.maxTokens).toBe(2);
  });

  test("logprobs, n, response_format and tools reach the engine as logprobs, seeds, and a grammar", async () => {
    const { json, requests } = await setup();
    await json("/v1/chat/completions", { messages, max_tokens: 2, logprobs: true, top_logprobs: 3, n: 3, seed: 7 });
    expect(requests.map((r) => [r.logprobs, r.seed])).toEqual([
      [3, 7],
      [3, 8],
      [3, 9],
    ]);
    expect(requests.every((r) => r.prompt === requests[0]!.prompt)).toBe(true);
    await json("/v1/completions", { prompt: "x", max_tokens: 2, logprobs: 0 });
    expect(requests[3]!.logprobs).toBe(0);
    await json("/v1/chat/completions", { messages, max_tokens: 2, response_format: { type: "json_object" } });
    expect(requests[4]!.grammar).toMatch(/^root ::= object$/m);
    await json("/v1/chat/completions", { messages, max_tokens: 2, response_format: { type: "text" } });
    expect(requests[5]).not.toHaveProperty("grammar");
    const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string", maxLength: 20 } }, required: ["city"] } } }];
    await json("/v1/chat/completions", { messages, max_tokens: 2, tools, tool_choice: "none" });
    expect(requests[6]).not.toHaveProperty("grammar");
    await json("/v1/chat/completions", { messages, max_tokens: 2, tools });
    expect(requests[7]!.grammar).toContain('"<tool_call>\\x0a{\\"name\\": \\"get_weather\\", \\"arguments\\": "');
    expect(requests[7]!.grammar).toMatch(/\| \[\^<\] \.\*$/m); // auto: text not starting with "<", or calls
    await json("/v1/chat/completions", { messages, max_tokens: 2, grammar: 'root ::= "yes" | "no"' });
    expect(requests[8]!.grammar).toBe('root ::= "yes" | "no"');
    await json("/v1/completions", { prompt: "x", max_tokens: 2, response_format: { type: "json_schema", json_schema: { name: "n", schema: { type: "integer" } } } });
    expect(requests[9]!.grammar).toMatch(/^root ::= r0$/m);
  });

  test("tools reach the prompt: in a system message for a template without tools, through `tools` for one with them; tool history is accepted", async () => {
    const plain = await setup();
    const decode = (request: GenerateRequest) => plain.model.detokenize(request.prompt);
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const history = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather in Oslo?" },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "-3 C" },
    ];
    expect((await plain.json("/v1/chat/completions", { messages: history, max_tokens: 2, tools })).status).toBe(200);
    const prompt = decode(plain.requests[0]!);
    expect(prompt).toMatch(/^<s>system: Be brief\.\n\nYou may call one or more functions.*"name":"get_weather"/s);
    expect(prompt).toContain('assistant: <tool_call>\n{"name":"get_weather","arguments":{"city":"Oslo"}}\n</tool_call>\ntool: -3 C\nassistant: ');

    const template =
      "{% if tools %}TOOLS:{% for t in tools %}{{ t.function.name }};{% endfor %}{{ '\\n' }}{% endif %}{% for m in messages %}{{ m.role }}: {{ m.content }}{% if m.tool_calls %}{% for c in m.tool_calls %}[call {{ c.function.name }} {{ c.function.arguments.city }}]{% endfor %}{% endif %}{% if m.tool_call_id %}({{ m.tool_call_id }}){% endif %}{{ '\\n' }}{% endfor %}assistant: ";
    const native = await setup({ template });
    expect((await native.json("/v1/chat/completions", { messages: history, max_tokens: 2, tools })).status).toBe(200);
    expect(native.model.detokenize(native.requests[0]!.prompt)).toBe("<s>TOOLS:get_weather;\nsystem: Be brief.\nuser: Weather in Oslo?\nassistant: [call get_weather Oslo]\ntool: -3 C(call_1)\nassistant: ");
  });
});

describe("response shapes (scripted engine streams)", () => {
  test("chat logprobs: content[] with token, logprob, bytes, top_logprobs, non-streaming and streaming", async () => {
    const { json, post } = await setup({ script: () => scripted("ok") });
    const { body } = await json("/v1/chat/completions", { messages, logprobs: true, top_logprobs: 2 });
    expect(body.choices[0].message.content).toBe("ok");
    expect(body.choices[0].logprobs.content).toEqual([
      { token: "o", logprob: -0.5, bytes: [111], top_logprobs: [{ token: "o", logprob: -0.5, bytes: [111] }, { token: "A", logprob: -1.5, bytes: [65] }] },
      { token: "k", logprob: -0.5, bytes: [107], top_logprobs: [{ token: "k", logprob: -0.5, bytes: [107] }, { token: "A", logprob: -1.5, bytes: [65] }] },
    ]);
    const streamed = events((await post("/v1/chat/completions", { messages, logprobs: true, top_logprobs: 2, stream: true })).text);
    const chunks = streamed.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e));
    const content = chunks.flatMap((chunk) => chunk.choices[0].logprobs?.content ?? []);
    expect(content.map((entry: { token: string }) => entry.token)).toEqual(["o", "k"]);
    expect(streamed.at(-1)).toBe("[DONE]");
  });

  test("completions logprobs: the legacy tokens, token_logprobs, top_logprobs, text_offset", async () => {
    const { json, post } = await setup({ script: () => scripted("abc") });
    const { body } = await json("/v1/completions", { prompt: "x", logprobs: 2 });
    expect(body.choices[0].logprobs).toEqual({
      tokens: ["a", "b", "c"],
      token_logprobs: [-0.5, -0.5, -0.5],
      top_logprobs: [{ a: -0.5, A: -1.5 }, { b: -0.5, A: -1.5 }, { c: -0.5, A: -1.5 }],
      text_offset: [0, 1, 2],
    });
    const streamed = events((await post("/v1/completions", { prompt: "x", logprobs: 0, stream: true })).text).filter((e) => e !== "[DONE]").map((e) => JSON.parse(e));
    const withLogprobs = streamed.map((chunk) => chunk.choices[0]?.logprobs).filter((l) => l !== null && l !== undefined);
    expect(withLogprobs.flatMap((l) => l.text_offset)).toEqual([0, 1, 2]);
    expect(withLogprobs.every((l) => l.top_logprobs === null)).toBe(true);
  });

  test("tool calls: message.tool_calls with finish_reason tool_calls; streamed as delta.tool_calls; text stays content in auto mode", async () => {
    const call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>';
    const answers = [call, "Sunny.", call.slice(0, 30)];
    const { json, post } = await setup({ script: (_request, i) => scripted(answers[i % 3]!, i % 3 === 2 ? "length" : "stop", false) });
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }];
    const first = (await json("/v1/chat/completions", { messages, tools })).body;
    expect(first.choices[0].finish_reason).toBe("tool_calls");
    expect(first.choices[0].message.content).toBeNull();
    expect(first.choices[0].message.tool_calls).toHaveLength(2);
    expect(first.choices[0].message.tool_calls[1]).toMatchObject({ type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } });
    expect(first.choices[0].message.tool_calls[0].id).toMatch(/^call_\w{24}$/);
    const text = (await json("/v1/chat/completions", { messages, tools })).body;
    expect(text.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "Sunny." } });
    const cut = (await json("/v1/chat/completions", { messages, tools })).body;
    expect(cut.choices[0]).toMatchObject({ finish_reason: "length", message: { content: call.slice(0, 30) } });

    const streamed = events((await post("/v1/chat/completions", { messages, tools, stream: true })).text).filter((e) => e !== "[DONE]").map((e) => JSON.parse(e));
    const deltas = streamed.map((chunk) => chunk.choices[0]?.delta).filter(Boolean);
    expect(deltas.filter((delta) => typeof delta.content === "string" && delta.content.length > 0)).toEqual([]);
    const calls = deltas.flatMap((delta) => delta.tool_calls ?? []);
    expect(calls.map((c: { index: number; function: { arguments: string } }) => [c.index, c.function.arguments])).toEqual([
      [0, '{"city":"Oslo"}'],
      [1, '{"city":"Rome"}'],
    ]);
    expect(streamed.at(-1).choices[0].finish_reason).toBe("tool_calls");
  });

  test("n choices: each its own index, usage adds their completion tokens; streamed chunks carry their index", async () => {
    const { json, post, app } = await setup({ script: (_request, i) => scripted(["a", "bb", "ccc"][i % 3]!, "stop", false) });
    const { body } = await json("/v1/chat/completions", { messages, n: 3 });
    expect(body.choices.map((c: { index: number; message: { content: string } }) => [c.index, c.message.content])).toEqual([
      [0, "a"],
      [1, "bb"],
      [2, "ccc"],
    ]);
    expect(body.usage.completion_tokens).toBe(6);
    const streamed = events((await post("/v1/completions", { prompt: "x", n: 3, stream: true, stream_options: { include_usage: true } })).text);
    const chunks = streamed.filter((e) => e !== "[DONE]").map((e) => JSON.parse(e));
    const texts = ["", "", ""];
    for (const chunk of chunks) for (const choice of chunk.choices) texts[choice.index] += choice.text;
    expect(texts).toEqual(["a", "bb", "ccc"]);
    expect(chunks.at(-1).usage.completion_tokens).toBe(6);

    // The official client reads n choices too.
    const server = await import("@hono/node-server").then(({ serve }) => new Promise<{ close: () => void; port: number }>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => resolve({ close: () => s.close(), port: info.port }));
    }));
    try {
      const client = new OpenAI({ baseURL: `http://127.0.0.1:${server.port}/v1`, apiKey: "none", maxRetries: 0 });
      const completion = await client.chat.completions.create({ model: "mock", messages: [{ role: "user", content: "hi" }], n: 3 });
      expect(completion.choices.map((c) => c.message.content)).toEqual(["a", "bb", "ccc"]);
    } finally {
      server.close();
    }
  });
});

describe("grammar failures are the client's, under the field it sent", () => {
  const deadEnd = (): StreamPart[] => [
    { type: "start", requestId: 1, slot: 0, promptTokens: 5, cachedTokens: 0 },
    { type: "error", error: new InvalidArgumentError({ argument: "grammar", message: "no token is allowed here: the grammar and the logit bias rule out every token" }) },
    { type: "finish", reason: "error", usage: { ...usage, completionTokens: 0 }, text: "" },
  ];
  const jsonObject = { response_format: { type: "json_object" }, logit_bias: { "127": -100 } };

  test("a grammar dead end mid-generation is a 400 naming the grammar's field, not a server fault", async () => {
    const { json, errors } = await setup({ script: deadEnd });
    const answer = await json("/v1/chat/completions", { messages, max_tokens: 4, ...jsonObject });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ type: "invalid_request_error", param: "response_format", message: expect.stringMatching(/logit bias/) });
    const raw = await json("/v1/completions", { prompt: "hi", max_tokens: 4, grammar: 'root ::= "a"' });
    expect(raw.body.error).toMatchObject({ type: "invalid_request_error", param: "grammar" });
    expect(errors).toEqual([]);
  });

  test("streamed, the dead end is an invalid_request_error event and the stream ends without [DONE]", async () => {
    const { post, errors } = await setup({ script: deadEnd });
    const { status, text } = await post("/v1/chat/completions", { messages, max_tokens: 4, stream: true, ...jsonObject });
    expect(status).toBe(200);
    const sent = events(text);
    expect(JSON.parse(sent.at(-1)!).error).toMatchObject({ type: "invalid_request_error", param: "response_format" });
    expect(sent).not.toContain("[DONE]");
    expect(errors).toEqual([]);
  });

  test("a grammar the server built that llama.cpp refuses is not reported as the client's grammar field", async () => {
    const { json } = await setup({
      script: () => {
        throw new InvalidArgumentError({ argument: "grammar", message: "the grammar does not parse: number of repetitions exceeds sane defaults" });
      },
    });
    const schema = { type: "json_schema", json_schema: { name: "s", schema: { type: "string" } } };
    const answer = await json("/v1/chat/completions", { messages, max_tokens: 4, response_format: schema });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ type: "invalid_request_error", param: "response_format", message: expect.stringMatching(/built from response_format/) });
  });
});
