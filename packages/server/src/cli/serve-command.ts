import { basename } from "node:path";
import { parseArgs } from "node:util";
import { Engine, formatBytes, isKvCacheType, kvCacheTypes, parseByteSize } from "@hybrid-llm/core";
import { startServer } from "../http/serve.js";
import { backendNames, defaultGpu, gpuUsage, rpcUsage } from "./backends.js";
import { defaultThreads, openModel } from "./open-model.js";
import { integerOption } from "./options.js";
import { UsageError } from "./usage-error.js";

export const serveUsage = `hybrid-llm serve --model <file> [options]

Serves a GGUF model to many clients at once over an OpenAI-compatible API: POST /v1/chat/completions,
/v1/completions (streaming and not), GET /v1/models, /health, /metrics (Prometheus), /slots, and a web page
at / (a chat and a live view of the engine, fed by GET /v1/engine/events).

  --model <file|uri>      GGUF model: a file, hf:<owner>/<repo>/<file.gguf> or an https:// URL (downloaded once)
  --slots <n>             parallel requests (recurrent slots) (default: 8)
  --ctx <n>               KV cells shared by all slots (default: 32768)
  --no-unified            one KV stream per slot instead of one shared pool
  --kv-type <t>           ${kvCacheTypes.join(", ")} (default: f16)
  --batch <n>             tokens per step, decode rows + prefill chunks (default: 512)
  --threads <n>           CPU threads (default: ${defaultThreads()} here)
  --backend <name>        ${backendNames.join(", ")} (default: node)
  --gpu <api>             ${gpuUsage}
${rpcUsage}
  --host <address>        (default: 127.0.0.1)
  --port <n>              (default: 8080; 0 = any free port)
  --api-key <key>         require "Authorization: Bearer <key>" on /v1 (the page at / asks for it)
  --no-ui                 no web page at / (the API and /v1/engine/events stay)
  --name <id>             model id shown to clients (default: the file name)
  --max-queue <n>         requests waiting for a slot before 429 (default: 64)
  --no-prefix-cache       evaluate every prompt from its first token (no reuse of cached prefixes)
  --checkpoint-budget <b> host memory for recurrent checkpoints, e.g. 2GiB (default: 4 per slot)
  --min-branch-tokens <n> shortest shared prefix worth a branch-point checkpoint (default: 64)
  --reserve <mode>        on-demand: requests claim KV cells as they generate, and the latest is preempted
                          when the pool runs dry; worst-case: prompt + max_tokens reserved up front
                          (default: on-demand)
  --preemption <mode>     auto, swap (state to host memory), recompute (re-prefill) (default: auto)
  --swap-budget <b>       host memory for swapped-out requests, e.g. 4GiB (default: 1GiB)
  --session-dir <dir>     enable saved sessions (POST /v1/sessions/<name>/save and /restore), kept as
                          <dir>/<name>.session (default: off)
  --temperature <t>       sampling default for requests that give none, 0-2 (default: 1, OpenAI's)
  --top-p <p>             default top_p, (0, 1]; 1 = off (default: 1)
  --top-k <k>             default top_k; 0 = off (default: 0)
  --min-p <p>             default min_p, 0-1; 0 = off (default: 0)
  --max-tokens-limit <n>  largest max_tokens accepted (default: 4096)
  --max-body <bytes>      largest request body (default: 1048576)
  --body-timeout <s>      a request body must arrive within this, else 408 (default: 30)
  --write-timeout <s>     a client that takes no streamed event for this long is cut off and its
                          request cancelled (default: 60)
  --max-event-clients <n> most open GET /v1/engine/events streams (the web page's live view); one
                          more gets 503 (default: 16)`;

export async function serveCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    allowNegative: true,
    options: {
      model: { type: "string" },
      slots: { type: "string", default: "8" },
      ctx: { type: "string", default: "32768" },
      unified: { type: "boolean", default: true },
      "kv-type": { type: "string", default: "f16" },
      batch: { type: "string", default: "512" },
      threads: { type: "string", default: String(defaultThreads()) },
      backend: { type: "string", default: "node" },
      gpu: { type: "string", default: defaultGpu },
      rpc: { type: "string" },
      "tensor-split": { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8080" },
      "api-key": { type: "string" },
      ui: { type: "boolean", default: true },
      name: { type: "string" },
      "max-queue": { type: "string", default: "64" },
      "prefix-cache": { type: "boolean", default: true },
      "checkpoint-budget": { type: "string" },
      "min-branch-tokens": { type: "string", default: "64" },
      reserve: { type: "string", default: "on-demand" },
      preemption: { type: "string", default: "auto" },
      "swap-budget": { type: "string", default: "1GiB" },
      "session-dir": { type: "string" },
      temperature: { type: "string", default: "1" },
      "top-p": { type: "string", default: "1" },
      "top-k": { type: "string", default: "0" },
      "min-p": { type: "string", default: "0" },
      "max-tokens-limit": { type: "string", default: "4096" },
      "max-body": { type: "string", default: String(1 << 20) },
      "body-timeout": { type: "string", default: "30" },
      "write-timeout": { type: "string", default: "60" },
      "max-event-clients": { type: "string", default: "16" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(serveUsage);
  if (values.model === undefined) throw new UsageError("--model <file> is required", serveUsage);
  const integer = (name: string, text: string, min: number) => integerOption(name, text, min, serveUsage);
  const kvType = values["kv-type"];
  const budgetText = values["checkpoint-budget"];
  const checkpointBudgetBytes = budgetText === undefined ? undefined : parseByteSize(budgetText);
  if (budgetText !== undefined && checkpointBudgetBytes === undefined) throw new UsageError(`--checkpoint-budget must be a size like 2GiB or 500MB, got ${budgetText}`, serveUsage);
  const minBranchTokens = integer("min-branch-tokens", values["min-branch-tokens"], 1);
  const reserve = values.reserve;
  if (reserve !== "on-demand" && reserve !== "worst-case") throw new UsageError(`--reserve must be on-demand or worst-case, got ${reserve}`, serveUsage);
  const preemption = values.preemption;
  if (preemption !== "auto" && preemption !== "swap" && preemption !== "recompute") throw new UsageError(`--preemption must be auto, swap or recompute, got ${preemption}`, serveUsage);
  const fraction = (name: string, text: string, ok: (n: number) => boolean, range: string) => {
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value) || !ok(value)) throw new UsageError(`--${name} must be ${range}, got "${text}"`, serveUsage);
    return value;
  };
  const sampling = {
    temperature: fraction("temperature", values.temperature, (v) => v >= 0 && v <= 2, "a number from 0 to 2"),
    topP: fraction("top-p", values["top-p"], (v) => v > 0 && v <= 1, "a number above 0, at most 1"),
    topK: integer("top-k", values["top-k"], 0),
    minP: fraction("min-p", values["min-p"], (v) => v >= 0 && v <= 1, "a number from 0 to 1"),
  };
  const swapBudgetBytes = parseByteSize(values["swap-budget"]);
  if (swapBudgetBytes === undefined) throw new UsageError(`--swap-budget must be a size like 4GiB or 500MB, got ${values["swap-budget"]}`, serveUsage);
  if (!isKvCacheType(kvType)) throw new UsageError(`--kv-type must be one of ${kvCacheTypes.join(", ")}`, serveUsage);
  // Every number is checked before the model loads (a long wait to learn of a typo).
  const maxQueue = integer("max-queue", values["max-queue"], 0);
  const limits = {
    maxTokensLimit: integer("max-tokens-limit", values["max-tokens-limit"], 1),
    maxBodyBytes: integer("max-body", values["max-body"], 1024),
    bodyTimeoutMs: integer("body-timeout", values["body-timeout"], 1) * 1000,
    writeTimeoutMs: integer("write-timeout", values["write-timeout"], 1) * 1000,
    maxEventClients: integer("max-event-clients", values["max-event-clients"], 1),
    port: integer("port", values.port, 0),
  };
  const open = () =>
    openModel({
      path: values.model!,
      backend: values.backend,
      gpu: values.gpu,
      rpc: values.rpc,
      tensorSplit: values["tensor-split"],
      usage: serveUsage,
      context: {
        ctx: integer("ctx", values.ctx, 1),
        slots: integer("slots", values.slots, 1),
        unified: values.unified,
        kvType,
        batch: integer("batch", values.batch, 1),
        threads: integer("threads", values.threads, 1),
      },
    });
  let opened = await open();
  const engine = new Engine({
    model: opened.model,
    context: opened.context,
    // A crashed backend (a trap in the Wasm module) is replaced by a fresh one; the requests queued meanwhile go on.
    reopen: async (crash) => {
      process.stderr.write(`[hybrid-llm server] the ${opened.backend.name} backend crashed (${crash.message}); reopening the model\n`);
      await opened.dispose().catch(() => undefined);
      opened = await open();
      return opened;
    },
    maxQueue,
    admission: { reserve, preemption, swapBudgetBytes },
    prefixCache: values["prefix-cache"] ? { minBranchTokens, ...(checkpointBudgetBytes === undefined ? {} : { checkpointBudgetBytes }) } : false,
  });
  const name = values.name ?? basename(values.model).replace(/\.gguf$/, "");
  const server = await startServer({
    engine,
    modelName: name,
    ...(values["api-key"] === undefined ? {} : { apiKey: values["api-key"] }),
    sampling,
    ui: values.ui,
    ...limits,
    ...(values["session-dir"] === undefined ? {} : { sessionDir: values["session-dir"] }),
    host: values.host,
    describe: () => ({ model: name, backend: opened.backend.name, device: opened.backend.device, nCtx: opened.context.info.nCtx, unified: opened.context.info.unified }),
  });
  const cache = engine.stats().cache;
  const caching = values["prefix-cache"] ? `prefix cache on, checkpoints up to ${formatBytes(cache.checkpointBudgetBytes)}` : "prefix cache off";
  print(`serving ${name} at ${server.url}/v1${values.ui ? `, web page at ${server.url}/` : ""} (${opened.context.info.slots} slots, ${opened.context.info.nCtx} shared KV cells, ${caching}); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  print("stopping…");
  await server.close();
  await engine.dispose();
  await opened.dispose();
}
