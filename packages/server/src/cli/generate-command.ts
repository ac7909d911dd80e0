import { parseArgs } from "node:util";
import { type ChatMessage, InvalidArgumentError, generateOnce, renderChat } from "@hybrid-llm/core";
import { backendNames, backendOption, createBackend, defaultGpu, gpuOption, gpuUsage, rpcOption, rpcUsage } from "./backends.js";
import { resolveModel } from "./model-source.js";
import { defaultThreads, loadProgressLine } from "./open-model.js";
import { UsageError } from "./usage-error.js";

export const generateUsage = `hybrid-llm generate --model <file> --prompt <text> [options]

Generates one completion and streams it to stdout.

  --model <file|uri>    GGUF model: a file, hf:<owner>/<repo>/<file.gguf> or an https:// URL (downloaded once)
  --prompt <text>       prompt text (with --chat: the user message)
  --chat                render the prompt with the model's chat template (tokenizer.chat_template)
  --system <text>       system message (with --chat)
  --max-tokens <n>      most tokens to generate (default: 64)
  --temperature <t>     0 = greedy (default: 0.8)
  --top-k <n>           (default: 40)    --top-p <p>   (default: 0.95)    --min-p <p>   (default: 0.05)
  --seed <n>            sampling seed (default: 0)
  --ctx <n>             context size (default: 4096)
  --threads <n>         CPU threads (default: ${defaultThreads()} here: 1 below 8 cores, half the cores above)
  --backend <name>      ${backendNames.join(", ")} (default: node)
  --gpu <api>           ${gpuUsage}
${rpcUsage}
  --json                print { tokens, text, usage, finishReason, timings } instead of streaming text`;

export async function generateCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      model: { type: "string" },
      prompt: { type: "string" },
      chat: { type: "boolean" },
      system: { type: "string" },
      "max-tokens": { type: "string", default: "64" },
      temperature: { type: "string", default: "0.8" },
      "top-k": { type: "string", default: "40" },
      "top-p": { type: "string", default: "0.95" },
      "min-p": { type: "string", default: "0.05" },
      seed: { type: "string", default: "0" },
      ctx: { type: "string", default: "4096" },
      threads: { type: "string", default: String(defaultThreads()) },
      backend: { type: "string", default: "node" },
      gpu: { type: "string", default: defaultGpu },
      rpc: { type: "string" },
      "tensor-split": { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(generateUsage);
  if (values.model === undefined) throw new UsageError("--model <file> is required", generateUsage);
  if (values.prompt === undefined) throw new UsageError("--prompt <text> is required", generateUsage);
  const number = (name: string, text: string) => {
    const value = Number(text);
    if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, got "${text}"`, generateUsage);
    return value;
  };

  const backendName = backendOption(values.backend, generateUsage);
  const gpu = gpuOption(values.gpu, generateUsage, backendName);
  const rpc = rpcOption(values.rpc, values["tensor-split"], generateUsage, backendName);
  const modelPath = await resolveModel(values.model, { quiet: values.json === true });

  const loadStarted = performance.now();
  const backend = await createBackend(backendName, gpu, rpc, number("threads", values.threads));
  try {
    const progress = loadProgressLine(modelPath, !values.json && process.stderr.isTTY);
    const model = await backend.loadModel({ path: modelPath }, { onProgress: progress.onProgress }).finally(progress.done);
    const loadMs = performance.now() - loadStarted;
    let prompt: Int32Array;
    if (values.chat) {
      if (model.info.chatTemplate === null) throw new InvalidArgumentError({ argument: "chat", message: "the model has no chat template" });
      const messages: ChatMessage[] = [
        ...(values.system === undefined ? [] : [{ role: "system" as const, content: values.system }]),
        { role: "user", content: values.prompt },
      ];
      prompt = model.tokenize(renderChat(model.info.chatTemplate, messages), { addSpecial: true, parseSpecial: true });
    } else {
      prompt = model.tokenize(values.prompt);
    }
    const maxTokens = number("max-tokens", values["max-tokens"]);
    const context = await model.createContext({
      ctx: number("ctx", values.ctx),
      slots: 1,
      threads: number("threads", values.threads),
      batch: 512,
    });
    const decoder = new TextDecoder();
    const result = await generateOnce(model, context, prompt, {
      maxTokens,
      temperature: number("temperature", values.temperature),
      topK: number("top-k", values["top-k"]),
      topP: number("top-p", values["top-p"]),
      minP: number("min-p", values["min-p"]),
      seed: number("seed", values.seed),
      onToken: values.json ? undefined : (token) => process.stdout.write(decoder.decode(model.tokenBytes(token), { stream: true })),
    });
    const text = model.detokenize(Int32Array.from(result.tokens));
    const tokensPerSecond = result.tokens.length > 1 ? ((result.tokens.length - 1) / result.decodeMs) * 1000 : 0;
    if (values.json) {
      print(
        JSON.stringify({
          tokens: result.tokens,
          text,
          finishReason: result.finishReason,
          usage: { promptTokens: result.promptTokens, completionTokens: result.tokens.length, totalTokens: result.promptTokens + result.tokens.length },
          timings: { loadMs: round(loadMs), prefillMs: round(result.prefillMs), decodeMs: round(result.decodeMs), decodeTokensPerSecond: round(tokensPerSecond) },
          backend: { name: backend.name, device: backend.device },
        }),
      );
    } else {
      process.stdout.write(decoder.decode());
      print("");
      process.stderr.write(
        `\n[${result.promptTokens} prompt + ${result.tokens.length} generated tokens, ${result.finishReason}; ` +
          `prefill ${round(result.prefillMs)} ms, ${round(tokensPerSecond)} tokens/s on ${backend.name} (${backend.device.kind}: ${backend.device.name})]\n`,
      );
    }
  } finally {
    await backend.dispose();
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
