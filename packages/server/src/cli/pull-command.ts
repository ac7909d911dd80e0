import { parseArgs } from "node:util";
import { CommandError } from "./command-error.js";
import { defaultModelsDir, parseModelUri, resolveModel } from "./model-source.js";
import { UsageError } from "./usage-error.js";

export const pullUsage = `hybrid-llm pull <hf:owner/repo/file.gguf | https://…/file.gguf> [options]

Downloads a model into the models folder (once; --model of every command takes the same URIs and downloads what
is missing) and prints its path. A partial download (a dropped connection, Ctrl-C) is resumed where it stopped.
The file is kept only when its size matches what the server announced and its SHA-256 matches the hub's
(x-linked-etag of LFS files) or --sha256; otherwise it is deleted and the command fails with exit code 3.

hf:<owner>/<repo>/<path/to/file.gguf>[#<revision>] reads <endpoint>/<owner>/<repo>/resolve/<revision>/<path>
(revision main by default; endpoint $HF_ENDPOINT, else https://huggingface.co). Gated models (needing a token)
are not supported yet.

  --dir <folder>       the models folder (default: ${defaultModelsDir()}: $HYBRID_LLM_MODELS_DIR, else
                       $XDG_CACHE_HOME/hybrid-llm/models, else ~/.cache/hybrid-llm/models)
  --sha256 <hex>       the SHA-256 the file must have (for URLs whose server gives none)
  --quiet              no progress lines`;

export async function pullCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      sha256: { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(pullUsage);
  if (positionals.length !== 1) throw new UsageError("give one model URI", pullUsage);
  const uri = positionals[0]!;
  if (values.sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(values.sha256)) throw new UsageError(`--sha256 must be 64 hex digits, got "${values.sha256}"`, pullUsage);
  if (parseModelUri(uri) === undefined) throw new CommandError(`not a model URI: ${uri} (expected hf:<owner>/<repo>/<file.gguf> or an http(s):// URL)`);
  const path = await resolveModel(uri, {
    ...(values.dir === undefined ? {} : { modelsDir: values.dir }),
    ...(values.sha256 === undefined ? {} : { sha256: values.sha256 }),
    quiet: values.quiet === true,
  });
  print(path);
}
