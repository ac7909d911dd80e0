import { writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { type ChatMessage, Engine, HybridLlmError, tokenizeChat } from "@hybrid-llm/core";
import { backendNames, defaultGpu, gpuUsage, rpcUsage } from "./backends.js";
import { integerOption } from "./options.js";
import { defaultThreads, openModel } from "./open-model.js";
import { UsageError } from "./usage-error.js";

export const chatUsage = `hybrid-llm chat --model <file> [options]

An interactive chat in the terminal (or over stdin): each line you type is a user message; the answer streams
back. Each turn resumes from the prefix cache, so only the new message is evaluated. Commands:
/reset (forget the conversation, keep --system), /save <file> (write the conversation as JSON), /exit (or
Ctrl-D). Ctrl-C stops an answer; at the prompt it exits. After each answer a line on stderr gives the tokens
(how many came from the cache) and the speed.

  --model <file|uri>    GGUF model: a file, hf:<owner>/<repo>/<file.gguf> or an https:// URL (downloaded once);
                        its chat template (without one, a plain "role: content" template)
  --system <text>       system message
  --max-tokens <n>      most tokens per answer (default: 512)
  --temperature <t>     0 = greedy (default: 0.8)
  --seed <n>            sampling seed of the first answer, +1 for each next (default: 0)
  --ctx <n>             context size (default: 8192)
  --threads <n>         CPU threads (default: ${defaultThreads()} here)
  --backend <name>      ${backendNames.join(", ")} (default: node)
  --gpu <api>           ${gpuUsage}
${rpcUsage}`;

/** For models without tokenizer.chat_template (the test fixtures among them). */
const plainTemplate = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}";

export async function chatCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: "string" },
      system: { type: "string" },
      "max-tokens": { type: "string", default: "512" },
      temperature: { type: "string", default: "0.8" },
      seed: { type: "string", default: "0" },
      ctx: { type: "string", default: "8192" },
      threads: { type: "string", default: String(defaultThreads()) },
      backend: { type: "string", default: "node" },
      gpu: { type: "string", default: defaultGpu },
      rpc: { type: "string" },
      "tensor-split": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(chatUsage);
  if (values.model === undefined) throw new UsageError("--model <file> is required", chatUsage);
  const maxTokens = integerOption("max-tokens", values["max-tokens"], 1, chatUsage);
  const firstSeed = integerOption("seed", values.seed, 0, chatUsage);
  const temperature = Number(values.temperature);
  if (!Number.isFinite(temperature) || temperature < 0) throw new UsageError(`--temperature must be a number ≥ 0, got "${values.temperature}"`, chatUsage);

  const opened = await openModel({
    path: values.model,
    backend: values.backend,
    gpu: values.gpu,
      rpc: values.rpc,
      tensorSplit: values["tensor-split"],
    usage: chatUsage,
    context: { ctx: integerOption("ctx", values.ctx, 256, chatUsage), slots: 1, threads: integerOption("threads", values.threads, 1, chatUsage), batch: 512 },
  });
  const interactive = process.stdin.isTTY === true;
  const note = (line: string) => process.stderr.write(`${line}\n`);
  const lines = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, prompt: "> " });
  try {
    const { model } = opened;
    const engine = new Engine({ model, context: opened.context });
    const template = model.info.chatTemplate ?? plainTemplate;
    if (model.info.chatTemplate === null) note('(the model has no chat template: using a plain "role: content" one)');
    const system: ChatMessage[] = values.system === undefined ? [] : [{ role: "system", content: values.system }];
    let messages: ChatMessage[] = [...system];
    // Answer text → the tokens it was generated as, so the next turn continues the cached sequence token for token.
    const answers = new Map<string, Int32Array>();
    let seed = firstSeed;
    let answering: AbortController | undefined;

    /** Streams the answer to `messages` (ending with the user's) and appends it; a refused turn is dropped. */
    const answer = async () => {
      const { tokens: prompt, messageEnds } = tokenizeChat(model, template, messages, { contentTokens: (message) => answers.get(message.content) });
      answering = new AbortController();
      const started = performance.now();
      let firstTokenMs: number | undefined;
      const generated: number[] = [];
      try {
        for await (const part of engine.generate({ prompt, maxTokens, temperature, seed: seed++, checkpointAt: messageEnds.slice(0, -1), signal: answering.signal })) {
          if (part.type === "token") {
            firstTokenMs ??= performance.now() - started;
            generated.push(part.token);
          } else if (part.type === "text-delta") {
            process.stdout.write(part.text);
          } else if (part.type === "error") {
            note(`\n(error: ${part.error.message})`);
          } else if (part.type === "finish") {
            process.stdout.write("\n");
            if (part.reason === "error") messages.pop();
            else {
              answers.set(part.text, Int32Array.from(generated));
              messages.push({ role: "assistant", content: part.text });
            }
            const decodeMs = performance.now() - started - (firstTokenMs ?? 0);
            const speed = generated.length > 1 ? `, ${(((generated.length - 1) / decodeMs) * 1000).toFixed(1)} tokens/s` : "";
            note(
              `[${part.usage.promptTokens} prompt tokens (${part.usage.cachedPromptTokens} from cache), ${part.usage.completionTokens} generated, ` +
                `${part.reason}; first token after ${Math.round(firstTokenMs ?? 0)} ms${speed}]`,
            );
          }
        }
      } catch (error) {
        // Refused up front (a conversation longer than the context): say so, forget the message, go on.
        if (!HybridLlmError.isInstance(error)) throw error;
        note(`(${error.message}; /reset starts over)`);
        messages.pop();
      } finally {
        answering = undefined;
      }
    };

    lines.on("SIGINT", () => {
      if (answering !== undefined) answering.abort();
      else lines.close();
    });
    if (interactive) {
      note("/reset, /save <file>, /exit; Ctrl-C stops an answer");
      lines.prompt();
    }
    for await (const line of lines) {
      const text = line.trim();
      if (text === "/exit" || text === "/quit") break;
      if (text === "/reset") {
        messages = [...system];
        answers.clear();
        note("(conversation cleared)");
      } else if (text === "/save" || text.startsWith("/save ")) {
        const file = text.slice("/save".length).trim();
        if (file === "") note("usage: /save <file>");
        else {
          await writeFile(file, `${JSON.stringify({ messages }, null, 2)}\n`);
          note(`(saved ${messages.length} messages to ${file})`);
        }
      } else if (text.startsWith("/")) {
        note(`unknown command ${text.split(/\s/)[0]}: /reset, /save <file>, /exit`);
      } else if (text !== "") {
        messages.push({ role: "user", content: text });
        await answer();
      }
      if (interactive) lines.prompt();
    }
    await engine.dispose();
  } finally {
    lines.close();
    await opened.dispose();
  }
}
