// The official `openai` client against `hybrid-llm serve`: list the models, stream a chat answer, then ask for a
// plain completion. The same code works against any OpenAI-compatible server.
//
//   node examples/openai-client.mjs                      # starts `hybrid-llm serve` on a generated model itself
//   node examples/openai-client.mjs http://127.0.0.1:8080/v1 [model-id] [api-key]
//
// The second form talks to a server you started, e.g. `npx hybrid-llm serve --model model.gguf` (the model id is
// the file name without .gguf; the API key is whatever you gave --api-key). The first form is those two commands
// in one: it writes the tiny fixture model (random weights: the text is noise), runs
// `hybrid-llm serve --model <it> --port 0 --api-key …`, reads the address it printed, and stops it at the end.
// Prints the streamed answer, then one JSON line.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeFixtureFile } from "@hybrid-llm/core/node";
import OpenAI from "openai";

let [baseURL, modelId, apiKey = "unused"] = process.argv.slice(2);
let server;
let modelPath;
if (baseURL === undefined) {
  modelPath = join(tmpdir(), `hybrid-llm-example-${process.pid}`, "tiny.gguf");
  await writeFixtureFile("tiny", modelPath);
  // The `hybrid-llm` command of @hybrid-llm/server (what `npx hybrid-llm` runs).
  const cli = fileURLToPath(new URL("../bin/hybrid-llm.js", import.meta.resolve("@hybrid-llm/server")));
  apiKey = "example-key";
  server = spawn(process.execPath, [cli, "serve", "--model", modelPath, "--port", "0", "--slots", "2", "--ctx", "4096", "--threads", "1", "--api-key", apiKey], { stdio: ["ignore", "pipe", "pipe"] });
  // It prints "serving tiny at http://127.0.0.1:<port>/v1 (…)" once it listens (and its plan on stderr).
  let printed = "";
  server.stderr.on("data", (chunk) => (printed += chunk));
  await new Promise((resolve) => {
    server.stdout.on("data", (chunk) => {
      printed += chunk;
      const match = /serving (\S+) at (http:\/\/\S+\/v1)/.exec(printed);
      if (match && baseURL === undefined) {
        [, modelId, baseURL] = match;
        resolve();
      }
    });
    server.once("exit", resolve);
  });
  if (baseURL === undefined) throw new Error(`hybrid-llm serve did not start: ${printed}`);
}
try {
  const client = new OpenAI({ baseURL, apiKey });
  const models = await client.models.list();
  modelId ??= models.data[0].id;

  // A streamed chat answer: chunks arrive as the engine generates them.
  const stream = await client.chat.completions.create({
    model: modelId,
    messages: [
      { role: "system", content: "You are a concise assistant." },
      { role: "user", content: "What is a hybrid LLM?" },
    ],
    max_tokens: 24,
    temperature: 0.7,
    seed: 1,
    stream: true,
    stream_options: { include_usage: true },
  });
  let answer = "";
  let chunks = 0;
  let finishReason;
  let usage;
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    if (choice?.delta.content) {
      process.stdout.write(choice.delta.content);
      answer += choice.delta.content;
      chunks++;
    }
    finishReason = choice?.finish_reason ?? finishReason;
    usage = chunk.usage ?? usage;
  }
  process.stdout.write("\n");

  // A plain completion, not streamed.
  const completion = await client.completions.create({ model: modelId, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });

  console.log(
    JSON.stringify({
      models: models.data.map((m) => m.id),
      chat: { chunks, answer, finishReason, usage },
      completion: { text: completion.choices[0].text, finishReason: completion.choices[0].finish_reason, usage: completion.usage },
    }),
  );
} finally {
  if (server !== undefined) {
    server.kill("SIGTERM"); // serve stops cleanly on SIGTERM
    await once(server, "exit");
    await rm(join(modelPath, ".."), { recursive: true, force: true });
  }
}
