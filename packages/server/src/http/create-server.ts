import { randomUUID } from "node:crypto";
import {
  BackendError,
  type ChatMessage,
  HybridLlmError,
  ContextOverflowError,
  type Engine,
  type GenerateRequest,
  InvalidArgumentError,
  QueueFullError,
  type StreamPart,
  tokenizeChat,
} from "@hybrid-llm/core";
import { type Context, Hono } from "hono";
import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { streamSSE } from "hono/streaming";
import { AnswerTokens } from "./answer-tokens.js";
import { chatMessages } from "./chat-messages.js";
import { type ChoiceDelta, type ChoiceResult, runChoice } from "./choice.js";
import { type TokenLogprob, chatLogprobs, completionLogprobs } from "./logprobs.js";
import { type RequestShape, requestShape } from "./request-shape.js";
import { type SamplingDefaults, checkSamplingDefaults, requestSampling, samplingFields } from "./sampling-fields.js";
import { type ToolCall, type ToolRequest, templateUsesTools, toolCallsText, toolRequest, toolSystemPrompt } from "./tools.js";
import { RequestError } from "./request-error.js";
import { withDeadline } from "./deadline.js";
import { registerEngineEvents } from "./engine-events.js";
import { registerWebUi, webUiPaths } from "./web-ui.js";
import { registerSessionRoutes } from "./sessions.js";
import { Metrics } from "./metrics.js";
import type { ChatCompletionBody, CompletionBody } from "./openai-types.js";

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The engine; prompts are tokenized with its model (`engine.model`, which follows backend restarts). */
  readonly engine: Engine;
  /** A Jinja chat template to use instead of the model's own (`tokenizer.chat_template`). Defaults to the model's, else ChatML. */
  readonly chatTemplate?: string;
  /** The id clients use in `model` (and /v1/models lists). */
  readonly modelName: string;
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Largest request body in bytes. Defaults to 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest `max_tokens` accepted. Defaults to 4096. */
  readonly maxTokensLimit?: number;
  /** `max_tokens` when a request gives none. Defaults to 256. */
  readonly defaultMaxTokens?: number;
  /** Extra facts for GET /slots (backend, device, plan). */
  readonly describe?: () => Record<string, unknown>;
  /** /health answers 503 when one decode has run longer than this (a stalled backend). Defaults to 120,000 ms. */
  readonly stallMs?: number;
  /** Longest wait for a request's whole body, in ms; a client that sends slower gets 408 and the connection closes. Defaults to 30,000. */
  readonly bodyTimeoutMs?: number;
  /**
   * Longest a streamed event may wait for the client to take it, in ms. A client that stops reading is cut off: its
   * request is cancelled (slot and cells freed) and its connection closed. Defaults to 60,000.
   */
  readonly writeTimeoutMs?: number;
  /**
   * Most `GET /v1/engine/events` streams open at once (each samples the engine 4 times a second and holds a
   * connection). One more is answered 503 with Retry-After, code `too_many_event_clients`, until a stream ends.
   * Defaults to 16.
   */
  readonly maxEventClients?: number;
  /**
   * A directory for saved sessions: enables `POST /v1/sessions/{name}/save` and `/restore` and `GET /v1/sessions`
   * (files only inside it, named by the session's name). Unset: no session routes.
   */
  readonly sessionDir?: string;
  /**
   * Sampling for requests that leave a field out. Defaults to OpenAI's: temperature 1, top_p 1 (off), and neither
   * top_k nor min_p (llama-server's extensions; 0 = off).
   */
  readonly sampling?: SamplingDefaults;
  /**
   * Serve the web page at `/` (a chat and a live view of the engine, fed by `GET /v1/engine/events`). The page and
   * its assets need no key; it asks for one when the server has it. Defaults to true.
   */
  readonly ui?: boolean;
  /** Called with every internal error answered with a generic 500 (the client never sees its text). Defaults to stderr. */
  readonly onError?: (error: unknown) => void;
}

const CHATML =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";


/**
 * Request fields each endpoint understands. Anything else is refused with a 400 naming it, rather than silently
 * ignored (a client asking for something the server does not do must not get an answer without it).
 */
const commonFields = ["model", "max_tokens", "max_completion_tokens", ...samplingFields, "stop", "stream", "stream_options", "n", "logprobs", "response_format", "grammar", "user", "metadata", "store", "service_tier"];
const chatFields = new Set([...commonFields, "messages", "top_logprobs", "tools", "tool_choice", "parallel_tool_calls"]);
const completionFields = new Set([...commonFields, "prompt"]);
const sessionFields = new Set(["model", "messages", "prompt"]);
/** Fields accepted when they ask for nothing beyond the default. */
const neutralValues: Record<string, (value: unknown) => boolean> = {
  echo: (v) => v === false,
  best_of: (v) => v === 1,
  suffix: (v) => v === null,
};

function checkFields(body: Record<string, unknown>, known: ReadonlySet<string>): void {
  for (const [key, value] of Object.entries(body)) {
    if (known.has(key) || value === null || value === undefined) continue;
    if (neutralValues[key]?.(value)) continue;
    throw new RequestError(400, `${key} is not supported by this server`, "invalid_request_error", key, "unsupported_parameter");
  }
}

/** The deepest JSON nesting a body may have: deeper values would overflow the stack of whatever walks them (a schema, a template). */
const maxBodyDepth = 128;

/** Whether `value` nests deeper than `limit` arrays or objects (walked without recursion). */
function nestsDeeper(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== "object" || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * Fields whose shape OpenAI checks and this server could otherwise take without effect: `stream_options` (only
 * `include_usage`, a boolean, and only with `stream: true`), `store` (nothing is stored: only false), and
 * `max_tokens` beside `max_completion_tokens` (the same value, or which one holds would be a guess).
 */
function checkStreamAndLimits(body: Record<string, unknown>): void {
  const bad = (param: string, message: string) => {
    throw new RequestError(400, message, "invalid_request_error", param);
  };
  const options = body.stream_options;
  if (options !== undefined && options !== null) {
    if (typeof options !== "object" || Array.isArray(options)) bad("stream_options", "stream_options must be an object ({ include_usage })");
    for (const [key, value] of Object.entries(options as Record<string, unknown>)) {
      if (key !== "include_usage") bad("stream_options", `stream_options.${key} is not supported by this server`);
      if (value !== null && typeof value !== "boolean") bad("stream_options", "stream_options.include_usage must be true or false");
    }
    if (body.stream !== true) bad("stream_options", "stream_options is only allowed with stream: true");
  }
  if (body.store !== undefined && body.store !== null && body.store !== false) bad("store", "store: this server does not store completions (only false is accepted)");
  const max = body.max_tokens;
  const completion = body.max_completion_tokens;
  if (max !== undefined && max !== null && completion !== undefined && completion !== null && max !== completion) {
    bad("max_completion_tokens", "max_tokens and max_completion_tokens differ; give one (max_tokens is the deprecated name)");
  }
}

/**
 * `Authorization: Bearer <key>`, compared in constant time; 401 with `WWW-Authenticate` otherwise. `/health` and
 * the `open` paths (the web page) need none.
 */
function requireKey(key: string, open: ReadonlySet<string>): MiddlewareHandler {
  const expected = Buffer.from(key);
  return async (c, next) => {
    if (c.req.path === "/health" || ((c.req.method === "GET" || c.req.method === "HEAD") && open.has(c.req.path))) return next();
    const header = c.req.header("authorization") ?? "";
    const given = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      c.header("WWW-Authenticate", 'Bearer realm="hybrid-llm"');
      return c.json({ error: { message: "a valid API key is required (Authorization: Bearer <key>)", type: "authentication_error", param: null, code: "invalid_api_key" } }, 401);
    }
    return next();
  };
}

function openAiError(c: Context, error: unknown, onError: ((error: unknown) => void) | undefined) {
  if (error instanceof HTTPException) {
    const type = error.status === 401 ? "authentication_error" : "invalid_request_error";
    return c.json({ error: { message: error.message || "unauthorized", type, param: null, code: null } }, error.status);
  }
  if (error instanceof RequestError) {
    if (error.status === 500) {
      (onError ?? defaultOnError)(error.cause ?? error);
      return c.json({ error: { message: "internal server error", type: "server_error", param: null, code: null } }, 500);
    }
    if (error.status === 503) c.header("Retry-After", "5");
    return c.json({ error: { message: error.message, type: error.type, param: error.param, code: error.code } }, error.status);
  }
  if (BackendError.isInstance(error) && error.code === "busy") {
    c.header("Retry-After", "1");
    return c.json({ error: { message: error.message, type: "server_error", param: null, code: "busy" } }, 503);
  }
  if (BackendError.isInstance(error) && error.code === "crashed") {
    // The backend crashed; the engine reopens it (or is out of service). Either way, not the client's fault.
    (onError ?? defaultOnError)(error);
    c.header("Retry-After", "5");
    return c.json({ error: { message: "the model is unavailable (its backend crashed and is being restarted); retry shortly", type: "server_error", param: null, code: "model_unavailable" } }, 503);
  }
  if (QueueFullError.isInstance(error)) return c.json({ error: { message: error.message, type: "rate_limit_error", param: null, code: "queue_full" } }, 429);
  if (ContextOverflowError.isInstance(error)) {
    return c.json({ error: { message: error.message, type: "invalid_request_error", param: "messages", code: "context_length_exceeded" } }, 400);
  }
  if (InvalidArgumentError.isInstance(error)) return c.json({ error: { message: error.message, type: "invalid_request_error", param: error.argument, code: null } }, 400);
  (onError ?? defaultOnError)(error);
  return c.json({ error: { message: "internal server error", type: "server_error", param: null, code: null } }, 500);
}

/**
 * The request body as text, at most `maxBytes`. A larger body is still read to its end (up to 64 MiB, then the
 * connection is closed) before the 413 goes out: answering while the client is still sending would reset a
 * keep-alive connection, and the client would see a socket error instead of the 413.
 */
async function readLimited(c: Context, maxBytes: number, timeoutMs: number): Promise<string> {
  const drainLimit = Math.max(maxBytes, 64 << 20);
  const reader = c.req.raw.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { value, done } = await withDeadline(reader.read(), deadline, async () => {
      // A client trickling its body (or stopping halfway) would hold the connection: cut it off.
      await reader.cancel().catch(() => undefined);
      c.header("Connection", "close");
      throw new RequestError(408, `the request body did not arrive within ${timeoutMs} ms`, "invalid_request_error", null, "request_timeout");
    });
    if (done) break;
    total += value.length;
    if (total <= maxBytes) chunks.push(value);
    else if (total > drainLimit) {
      await reader.cancel();
      c.header("Connection", "close");
      break;
    }
  }
  if (total > maxBytes) throw new RequestError(413, `request body too large (more than ${maxBytes} bytes)`);
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** Options a JavaScript caller may pass wrong (a string for a number would make every timeout fire at once). */
function checkServerOptions(options: ServerOptions): void {
  const fail = (argument: string, what: string, value: unknown) => {
    throw new InvalidArgumentError({ argument, message: `${argument} must be ${what}, got ${String(value)}` });
  };
  if (typeof options.engine !== "object" || options.engine === null || typeof options.engine.generate !== "function") fail("engine", "an Engine", options.engine);
  if (typeof options.modelName !== "string" || options.modelName.length === 0) fail("modelName", "a non-empty string", options.modelName);
  for (const key of ["maxBodyBytes", "maxTokensLimit", "defaultMaxTokens", "stallMs", "bodyTimeoutMs", "writeTimeoutMs"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || value <= 0)) fail(key, "a positive number", value);
  }
  for (const key of ["apiKey", "chatTemplate", "sessionDir"] as const) {
    const value = options[key];
    if (value !== undefined && (typeof value !== "string" || value.length === 0)) fail(key, "a non-empty string", value);
  }
  if (options.maxEventClients !== undefined && !(Number.isSafeInteger(options.maxEventClients) && options.maxEventClients >= 1)) fail("maxEventClients", "a whole number of at least 1", options.maxEventClients);
  if (options.onError !== undefined && typeof options.onError !== "function") fail("onError", "a function", options.onError);
  if (options.ui !== undefined && typeof options.ui !== "boolean") fail("ui", "true or false", options.ui);
  if (options.describe !== undefined && typeof options.describe !== "function") fail("describe", "a function", options.describe);
  if (options.sampling !== undefined) {
    if (typeof options.sampling !== "object" || options.sampling === null) fail("sampling", "an object", options.sampling);
    try {
      checkSamplingDefaults(options.sampling);
    } catch (error) {
      throw new InvalidArgumentError({ argument: "sampling", message: (error as Error).message });
    }
  }
}

function defaultOnError(error: unknown): void {
  process.stderr.write(`[hybrid-llm server] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
}

function number(body: Record<string, unknown>, key: string, check: (n: number) => boolean): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || !check(value)) throw new RequestError(400, `${key} is out of range`, "invalid_request_error", key);
  return value;
}

/**
 * The OpenAI-compatible HTTP server over an {@link Engine}: `POST /v1/chat/completions` and `/v1/completions`
 * (streaming SSE and not), `GET /v1/models`, `/health`, `/metrics` (Prometheus), `/slots`,
 * `/v1/engine/events` (the engine's live view as server-sent events) and the web page at `/`. A client that
 * disconnects cancels its request (its slot and cells are freed at once).
 *
 * @example A Hono app: serve it with any adapter, or call its fetch directly (tests, edge runtimes)
 * ```ts
 * import { createServer } from "@hybrid-llm/server";
 *
 * const app = createServer({ engine, modelName: "my-model", apiKey: "secret" });
 * const response = await app.fetch(new Request("http://local/v1/models", { headers: { authorization: "Bearer secret" } }));
 * console.log(await response.json()); // { object: "list", data: [{ id: "my-model", … }] }
 * ```
 */
export function createServer(options: ServerOptions): Hono {
  const { engine } = options;
  const metrics = new Metrics();
  const maxTokensLimit = options.maxTokensLimit ?? 4096;
  const defaultMaxTokens = options.defaultMaxTokens ?? 256;
  checkServerOptions(options);
  const samplingDefaults = options.sampling ?? {};
  const template = () => options.chatTemplate ?? engine.model.info.chatTemplate ?? CHATML;
  const answers = new AnswerTokens();
  const app = new Hono();

  app.onError((error, c) => openAiError(c, error, options.onError));
  app.get("/health", (c) => {
    const stats = engine.stats();
    // A crash being recovered from (`restarting`) or not recoverable (`failed`): not ready for traffic.
    if (stats.state !== "running") return c.json({ status: stats.state, model: options.modelName, restarts: stats.restarts }, 503);
    const inFlight = stats.decodeInFlightMs;
    if (inFlight > (options.stallMs ?? 120_000)) return c.json({ status: "stalled", model: options.modelName, decodeInFlightMs: Math.round(inFlight) }, 503);
    return c.json({ status: "ok", model: options.modelName });
  });
  // With a key, everything but /health needs it (/metrics and /slots reveal the device and live requests).
  const ui = options.ui ?? true;
  if (options.apiKey !== undefined) app.use("*", requireKey(options.apiKey, ui ? webUiPaths : new Set()));
  if (ui) registerWebUi(app);
  registerEngineEvents(app, engine, options.writeTimeoutMs ?? 60_000, options.maxEventClients ?? 16);
  app.get("/metrics", (c) => c.text(metrics.render(engine.stats()), 200, { "content-type": "text/plain; version=0.0.4" }));
  app.get("/slots", (c) => {
    const stats = engine.stats();
    return c.json({
      ...(options.describe?.() ?? {}),
      slots: stats.slots,
      slotsBusy: stats.slotsBusy,
      slotsCached: stats.slotsCached,
      queueDepth: stats.queueDepth,
      poolCells: stats.poolCells,
      poolCellsReserved: stats.poolCellsReserved,
      poolCellsCached: stats.poolCellsCached,
      poolCellsUsed: stats.poolCellsUsed,
      prefixCache: stats.cache,
      preemption: stats.preemption,
      peakActive: stats.peakActive,
      perSlot: engine.slots(),
      active: stats.active,
    });
  });

  app.get("/v1/models", (c) => c.json({ object: "list", data: [{ id: options.modelName, object: "model", created: 0, owned_by: "hybrid-llm" }] }));

  const maxBodyBytes = options.maxBodyBytes ?? 1 << 20;
  const readBody = async <T>(c: Context, known: ReadonlySet<string>): Promise<T & Record<string, unknown>> => {
    const text = await readLimited(c, maxBodyBytes, options.bodyTimeoutMs ?? 30_000);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new RequestError(400, "the body is not valid JSON");
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new RequestError(400, "the body must be a JSON object");
    if (nestsDeeper(body, maxBodyDepth)) throw new RequestError(400, `the body nests arrays and objects deeper than ${maxBodyDepth} levels`);
    const fields = body as Record<string, unknown>;
    checkFields(fields, known);
    if (fields.model === undefined) throw new RequestError(400, "model is required", "invalid_request_error", "model");
    if (fields.model !== options.modelName) {
      throw new RequestError(404, `the model ${JSON.stringify(fields.model)} does not exist; this server serves ${JSON.stringify(options.modelName)}`, "invalid_request_error", "model", "model_not_found");
    }
    if (fields.stream !== undefined && fields.stream !== null && typeof fields.stream !== "boolean") {
      throw new RequestError(400, "stream must be true or false", "invalid_request_error", "stream");
    }
    checkStreamAndLimits(fields);
    return body as T & Record<string, unknown>;
  };

  /**
   * The engine request(s) for a body: `n` of them (choice i seeded `seed + i`), validated before any is queued.
   * `grammar`: what the answer must follow (response_format, tools or a raw `grammar`).
   */
  const generation = (body: Record<string, unknown>, prompt: Int32Array, signal: AbortSignal, checkpointAt: readonly number[], shape: RequestShape): GenerateRequest[] => {
    const requested = number(body, "max_completion_tokens", (v) => Number.isInteger(v) && v >= 1) ?? number(body, "max_tokens", (v) => Number.isInteger(v) && v >= 1);
    if (requested !== undefined && prompt.length + requested > engine.sequenceLimit) {
      throw new RequestError(
        400,
        `the prompt (${prompt.length} tokens) plus max_tokens (${requested}) exceeds the ${engine.sequenceLimit} tokens one request can hold`,
        "invalid_request_error",
        "max_tokens",
        "context_length_exceeded",
      );
    }
    const maxTokens = requested ?? defaultMaxTokens;
    if (maxTokens > maxTokensLimit) throw new RequestError(400, `max_tokens ${maxTokens} exceeds this server's limit of ${maxTokensLimit}`, "invalid_request_error", "max_tokens");
    const stop = body.stop;
    if (stop !== undefined && stop !== null && typeof stop !== "string" && !(Array.isArray(stop) && stop.every((s) => typeof s === "string") && stop.length <= 4)) {
      throw new RequestError(400, "stop must be a string or up to 4 strings", "invalid_request_error", "stop");
    }
    const sampling = requestSampling(body, samplingDefaults, engine.model.info.vocabSize);
    const request: GenerateRequest = {
      prompt,
      maxTokens,
      signal,
      checkpointAt,
      ...sampling,
      ...(shape.grammar === undefined ? {} : { grammar: shape.grammar }),
      ...(shape.logprobs === undefined ? {} : { logprobs: shape.logprobs }),
      stop: typeof stop === "string" ? [stop] : ((stop as string[] | undefined | null) ?? []),
    };
    return Array.from({ length: shape.n }, (_, i) => (i === 0 || sampling.seed === undefined ? request : { ...request, seed: (sampling.seed + i) >>> 0 }));
  };

  /**
   * Runs a request, streaming (SSE) or not, in OpenAI's shapes, with `shape.n` choices. `checkpointAt`: prompt
   * positions worth a checkpoint (message boundaries). Chat answers' tokens are remembered for the next turn.
   */
  const respond = (c: Context, kind: "chat" | "text", body: Record<string, unknown>, prompt: Int32Array, shape: RequestShape, checkpointAt: readonly number[] = []) => {
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const started = performance.now();
    // A client that goes away cancels its request. The listener must come off when the request ends: the runtime
    // keeps a request's signal alive until the request is collected, and the listener would keep this whole
    // context (request, response, parts) alive with it — a leak per request.
    const controller = new AbortController();
    const onClientGone = () => controller.abort();
    c.req.raw.signal?.addEventListener("abort", onClientGone, { once: true });
    const detachClient = () => c.req.raw.signal?.removeEventListener("abort", onClientGone);
    const streams: AsyncIterable<StreamPart>[] = [];
    try {
      for (const request of generation(body, prompt, controller.signal, checkpointAt, shape)) streams.push(engine.generate(request));
    } catch (error) {
      // Choices already queued go with the request.
      controller.abort();
      detachClient();
      metrics.recordRequest("rejected");
      // A grammar the server built (from response_format or tools) that llama.cpp refuses is not the client's `grammar`.
      if (InvalidArgumentError.isInstance(error) && error.argument === "grammar" && shape.grammarField !== undefined && shape.grammarField !== "grammar") {
        throw new RequestError(400, `the grammar built from ${shape.grammarField} cannot be used: ${error.message}`, "invalid_request_error", shape.grammarField);
      }
      throw error;
    }
    const spell = (token: number) => engine.model.tokenBytes(token);
    const remember = (result: ChoiceResult) => {
      if (kind === "chat" && result.toolCalls === undefined && (result.reason === "stop" || result.reason === "length")) {
        answers.remember(result.text, Int32Array.from(result.tokens), (tokens) => engine.model.detokenize(tokens));
      }
    };
    const finishReason = (result: ChoiceResult) => (result.toolCalls !== undefined ? "tool_calls" : result.reason === "length" ? "length" : "stop");
    const usageOf = (results: readonly ChoiceResult[]) => {
      const first = results[0]!.usage;
      const completion = results.reduce((sum, result) => sum + result.usage.completionTokens, 0);
      return {
        prompt_tokens: first.promptTokens,
        completion_tokens: completion,
        total_tokens: first.promptTokens + completion,
        prompt_tokens_details: { cached_tokens: first.cachedPromptTokens },
      };
    };
    const record = (results: readonly ChoiceResult[]) => {
      detachClient();
      const failed = results.find((result) => result.reason === "error" || result.reason === "cancelled");
      const firstTokenAt = Math.min(...results.map((result) => result.firstTokenAt ?? Number.POSITIVE_INFINITY));
      metrics.recordRequest((failed ?? results[0]!).reason, (performance.now() - started) / 1000, Number.isFinite(firstTokenAt) ? (firstTokenAt - started) / 1000 : undefined);
    };
    /**
     * A choice ended by the request itself (InvalidArgumentError mid-generation: its grammar and logit bias leave no
     * token): the client's fault, answered as such and not reported as a server fault. The param names the field the
     * grammar came from.
     */
    const clientFault = (error: Error | undefined) => {
      if (error === undefined || !InvalidArgumentError.isInstance(error)) return undefined;
      return { message: error.message, param: error.argument === "grammar" ? (shape.grammarField ?? "grammar") : error.argument };
    };
    const toolCallsOf = (calls: readonly ToolCall[]) => calls.map((call, index) => ({ index, ...call }));
    /** One choice's streamed or final logprobs, in the endpoint's shape; `offset`: completions' text offset. */
    const logprobsOf = (entries: readonly TokenLogprob[], offset: number) => {
      if (shape.logprobs === undefined) return null;
      return kind === "chat" ? { content: chatLogprobs(entries, spell), refusal: null } : completionLogprobs(entries, spell, offset, shape.logprobs);
    };
    /** Runs every choice; a failed or cancelled one cancels the others. */
    const runAll = (onDelta?: (index: number, delta: ChoiceDelta) => Promise<void>) =>
      Promise.all(
        streams.map(async (stream, index) => {
          const result = await runChoice(stream, shape.answer, onDelta === undefined ? undefined : (delta) => onDelta(index, delta));
          if (result.reason === "error" || result.reason === "cancelled") controller.abort();
          return result;
        }),
      );

    if (body.stream === true) {
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      const writeTimeoutMs = options.writeTimeoutMs ?? 60_000;
      return streamSSE(c, async (sse) => {
        sse.onAbort(() => controller.abort());
        let cutOff = false;
        let writing = Promise.resolve();
        // An event the client does not take in time: it stopped reading. Cancel its request and drop the connection
        // (under Node; the socket would otherwise hold the buffered stream until the OS gives up). Choices write one
        // event at a time.
        const send = (data: string) =>
          (writing = writing.then(async () => {
            if (cutOff) return;
            await withDeadline(sse.writeSSE({ data }), performance.now() + writeTimeoutMs, async () => {
              cutOff = true;
              controller.abort();
              (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
            });
          }));
        const chunk = (index: number, choice: Record<string, unknown>) => ({
          id,
          object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
          created,
          model: options.modelName,
          choices: [{ index, ...choice }],
        });
        if (kind === "chat") for (let i = 0; i < streams.length; i++) await send(JSON.stringify(chunk(i, { delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null })));
        const offsets = streams.map(() => 0);
        const results = await runAll(async (index, delta) => {
          const logprobs = logprobsOf(delta.logprobs, offsets[index]!);
          let choice: Record<string, unknown>;
          if (kind === "text") {
            choice = { text: delta.content ?? "", finish_reason: null, logprobs };
            offsets[index]! += (delta.content ?? "").length;
          } else if (delta.toolCalls !== undefined) choice = { delta: { tool_calls: toolCallsOf(delta.toolCalls) }, logprobs, finish_reason: null };
          else choice = { delta: { content: delta.content ?? "" }, logprobs, finish_reason: null };
          await send(JSON.stringify(chunk(index, choice)));
        });
        record(results);
        for (const result of results) {
          remember(result);
          if (result.reason === "error") {
            const fault = clientFault(result.error);
            if (fault !== undefined) {
              await send(JSON.stringify({ error: { message: fault.message, type: "invalid_request_error", param: fault.param, code: null } }));
              continue;
            }
            (options.onError ?? defaultOnError)(result.error);
            await send(JSON.stringify({ error: { message: "generation failed", type: "server_error", param: null, code: null } }));
          }
        }
        // A failed or cancelled stream ends without a finish_reason or [DONE]: the client sees it did not complete.
        if (results.some((result) => result.reason === "cancelled" || result.reason === "error")) return;
        for (const [index, result] of results.entries()) {
          const choice = kind === "chat" ? { delta: {}, logprobs: null, finish_reason: finishReason(result) } : { text: "", finish_reason: finishReason(result), logprobs: null };
          await send(JSON.stringify(chunk(index, choice)));
        }
        if (includeUsage) await send(JSON.stringify({ id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created, model: options.modelName, choices: [], usage: usageOf(results) }));
        await send("[DONE]");
      });
    }

    return (async () => {
      const results = await runAll();
      record(results);
      const failed = results.find((result) => result.reason === "error");
      if (failed !== undefined) {
        const fault = clientFault(failed.error);
        if (fault !== undefined) throw new RequestError(400, fault.message, "invalid_request_error", fault.param);
        throw new RequestError(500, "generation failed", "server_error", null, null, failed.error);
      }
      results.forEach(remember);
      const choices = results.map((result, index) => {
        const logprobs = logprobsOf(result.logprobs, 0);
        if (kind === "text") return { index, text: result.text, finish_reason: finishReason(result), logprobs };
        const message =
          result.toolCalls === undefined ? { role: "assistant", content: result.text } : { role: "assistant", content: null, tool_calls: toolCallsOf(result.toolCalls).map(({ index: _, ...call }) => call) };
        return { index, message, finish_reason: finishReason(result), logprobs };
      });
      return c.json({ id, object: kind === "chat" ? "chat.completion" : "text_completion", created, model: options.modelName, choices, usage: usageOf(results) });
    })();
  };

  /**
   * A chat's tokens: contents tokenized as text (only the template's markup becomes special tokens); an earlier
   * answer sent back comes in as the tokens it was generated as, so the turn continues the cached sequence exactly.
   * With tools, the template gets them as `tools`; a template that does not render tools gets them (and earlier
   * calls) as text instead (see tools.ts).
   */
  const chatTokens = (body: { messages: ChatCompletionBody["messages"] }, addGenerationPrompt = true, tools?: ToolRequest) => {
    const given = chatMessages(body.messages);
    const rendersTools = templateUsesTools(template());
    const messages: ChatMessage[] = given.map((message) => {
      if (message.toolCalls === undefined || rendersTools) {
        const { toolCalls, ...rest } = message;
        return toolCalls === undefined ? rest : { ...rest, tool_calls: toolCalls.map((call) => ({ id: call.id, type: "function", function: { name: call.name, arguments: call.arguments } })) };
      }
      return { role: message.role, content: [message.content, toolCallsText(message.toolCalls)].filter((text) => text.length > 0).join("\n") };
    });
    if (tools !== undefined && rendersTools) {
      // The template writes the tools into its markup, which is tokenized with special tokens parsed: refuse tool
      // definitions that spell one (a description holding "<|im_end|>" would end the system turn).
      const text = JSON.stringify(tools.templateTools);
      const asText = engine.model.tokenize(text, { addSpecial: false, parseSpecial: false });
      const parsed = engine.model.tokenize(text, { addSpecial: false, parseSpecial: true });
      if (asText.length !== parsed.length || asText.some((token, i) => token !== parsed[i])) {
        throw new RequestError(400, "tools must not contain the model's special tokens", "invalid_request_error", "tools");
      }
    }
    if (tools !== undefined && !rendersTools) {
      const prompt = toolSystemPrompt(tools);
      if (messages[0]?.role === "system") messages[0] = { ...messages[0], content: `${messages[0].content}\n\n${prompt}` };
      else messages.unshift({ role: "system", content: prompt });
    }
    try {
      const chat = tokenizeChat(engine.model, template(), messages, {
        addGenerationPrompt,
        contentTokens: (message) => (message.role === "assistant" ? answers.lookup(message.content) : undefined),
        ...(tools === undefined ? {} : { tools: tools.templateTools }),
      });
      return { messages, chat };
    } catch (error) {
      // The backend's own failures (a crash) are not the request's fault; a template's raise_exception (roles must
      // alternate, no system message, …) is.
      if (HybridLlmError.isInstance(error)) throw error;
      throw new RequestError(400, `the chat template refused these messages: ${(error as Error).message}`, "invalid_request_error", "messages");
    }
  };

  /** While the engine reopens a crashed backend, or after it could not: 503 (its model cannot even tokenize). */
  const ensureServing = () => {
    const state = engine.stats().state;
    if (state !== "running") {
      throw new RequestError(503, `the model is unavailable (its backend ${state === "restarting" ? "crashed and is being restarted" : "crashed and could not be restarted"}); retry later`, "server_error", null, "model_unavailable");
    }
  };

  app.post("/v1/chat/completions", async (c) => {
    const body = await readBody<ChatCompletionBody>(c, chatFields);
    ensureServing();
    const tools = toolRequest(body);
    const shape = requestShape(body, "chat", tools);
    const { chat } = chatTokens(body, true, tools);
    return respond(c, "chat", body, chat.tokens, shape, chat.messageEnds.slice(0, -1));
  });

  if (options.sessionDir !== undefined) {
    registerSessionRoutes(app, { engine, answers, directory: options.sessionDir, readBody: (c) => readBody(c, sessionFields), chatTokens: (body) => chatTokens(body, false) });
  }

  app.post("/v1/completions", async (c) => {
    const body = await readBody<CompletionBody>(c, completionFields);
    ensureServing();
    const prompt = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
    if (typeof prompt !== "string" || prompt.length === 0) throw new RequestError(400, "prompt must be a non-empty string", "invalid_request_error", "prompt");
    const shape = requestShape(body, "text", undefined);
    return respond(c, "text", body, engine.model.tokenize(prompt), shape);
  });

  app.notFound((c) => c.json({ error: { message: `no route for ${c.req.method} ${c.req.path}`, type: "invalid_request_error", param: null, code: null } }, 404));
  return app;
}
