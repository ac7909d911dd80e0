import { HybridLlmError } from "@hybrid-llm/core";
import { benchCommand, benchUsage } from "./bench-command.js";
import { chatCommand, chatUsage } from "./chat-command.js";
import { CommandError, exitCodes } from "./command-error.js";
import { demoCommand, demoUsage } from "./demo-command.js";
import { fixtureCommand, fixtureUsage } from "./fixture-command.js";
import { generateCommand, generateUsage } from "./generate-command.js";
import { planCommand, planUsage } from "./plan-command.js";
import { pullCommand, pullUsage } from "./pull-command.js";
import { rpcServerCommand, rpcServerUsage } from "./rpc-server-command.js";
import { serveCommand, serveUsage } from "./serve-command.js";
import { UsageError } from "./usage-error.js";

export const version = "0.1.0";

const commands: Record<string, { run: (args: string[], print: (line: string) => void) => Promise<void>; usage: string; summary: string }> = {
  demo: { run: demoCommand, usage: demoUsage, summary: "8 concurrent streams on a Nemotron 3 Nano twin: memory plan, live progress, allocation" },
  serve: { run: serveCommand, usage: serveUsage, summary: "OpenAI-compatible server: many concurrent requests on one model" },
  plan: { run: planCommand, usage: planUsage, summary: "exact KV / recurrent memory plan of a GGUF or a published model" },
  generate: { run: generateCommand, usage: generateUsage, summary: "one completion from a GGUF model, streamed" },
  chat: { run: chatCommand, usage: chatUsage, summary: "an interactive chat in the terminal, each turn resumed from the prefix cache" },
  bench: { run: benchCommand, usage: benchUsage, summary: "serving throughput with n concurrent requests, optionally vs node-llama-cpp" },
  pull: { run: pullCommand, usage: pullUsage, summary: "download a model (hf:owner/repo/file.gguf or a URL) into the models folder" },
  fixture: { run: fixtureCommand, usage: fixtureUsage, summary: "write a tiny random-weight hybrid GGUF for tests" },
  "rpc-server": { run: rpcServerCommand, usage: rpcServerUsage, summary: "lend this machine's device to a server's --rpc (llama.cpp RPC worker)" },
};

/** The command called `name`, if there is one (not an Object.prototype property such as "constructor"). */
const commandNamed = (name: string) => (Object.hasOwn(commands, name) ? commands[name] : undefined);

export const usage = `hybrid-llm ${version} — serve hybrid LLMs on llama.cpp with the memory they promise

Usage: hybrid-llm <command> [options]

Commands:
${Object.entries(commands)
  .map(([name, command]) => `  ${name.padEnd(10)} ${command.summary}`)
  .join("\n")}

Run "hybrid-llm help <command>" (or "hybrid-llm <command> --help") for a command's options.

--model takes a GGUF file, hf:<owner>/<repo>/<file.gguf>[#<revision>] or an https:// URL; models are downloaded
once into ${"$"}HYBRID_LLM_MODELS_DIR (default ~/.cache/hybrid-llm/models), see "hybrid-llm help pull".

Exit codes: 0 done; 1 the command failed (a missing or unreadable model file, not a GGUF, an unsupported
architecture, an impossible plan), with one line on stderr saying why; 2 a usage error (unknown command or option,
a bad value), with the usage; 3 a model download failed (unreachable, an HTTP error, a size or SHA-256 mismatch),
one line.`;

/** Output sinks, replaceable in tests. */
export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const processIo: CliIo = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };

/**
 * Runs the `hybrid-llm` command line. Returns the exit code ({@link exitCodes}): 0 success, 1 a typed hybrid-llm
 * error (bad model, impossible plan), a CommandError or a file-system error, each as one line; 2 a usage error; 3 a
 * failed download (a CommandError carrying that code). Unexpected errors propagate.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === "help" && args.length > 0) {
    const topic = commandNamed(args[0]!);
    if (topic === undefined || args.length > 1) {
      io.err(`hybrid-llm help: ${args.length > 1 ? "give one command" : `unknown command "${args[0]}"`}\n\n${usage}`);
      return 2;
    }
    io.out(topic.usage);
    return 0;
  }
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    io.out(usage);
    return name === undefined ? 2 : 0;
  }
  if (name === "--version" || name === "-v") {
    io.out(version);
    return 0;
  }
  const command = commandNamed(name);
  if (command === undefined) {
    io.err(`hybrid-llm: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  try {
    await command.run(args, io.out);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`hybrid-llm ${name}: ${error.message}\n\n${error.usage}`);
      return 2;
    }
    // node:util parseArgs throws TypeErrors with a code for unknown or malformed options.
    if (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS")) {
      io.err(`hybrid-llm ${name}: ${error.message}\n\n${command.usage}`);
      return 2;
    }
    if (error instanceof CommandError) {
      io.err(`hybrid-llm ${name}: ${error.message}`);
      return error.exitCode;
    }
    if (HybridLlmError.isInstance(error)) {
      io.err(`hybrid-llm ${name}: ${error.message}`);
      return exitCodes.failed;
    }
    // A file the command could not read or write (model checks come first; this catches the rest, e.g. --out).
    if (error instanceof Error && "syscall" in error && typeof (error as NodeJS.ErrnoException).code === "string") {
      io.err(`hybrid-llm ${name}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}
