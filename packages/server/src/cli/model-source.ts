import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { CommandError, exitCodes } from "./command-error.js";
import { type GgufFile, parseGgufPrefix } from "@hybrid-llm/core";
import { readGgufFile } from "@hybrid-llm/core/node";
import { DownloadError, download, fetchPrefix, probe, sha256OfFile } from "./download.js";
import { checkModelFile } from "./model-file.js";

/**
 * Where downloaded models go: `$HYBRID_LLM_MODELS_DIR`, else `$XDG_CACHE_HOME/hybrid-llm/models`, else
 * `~/.cache/hybrid-llm/models`.
 */
export function defaultModelsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HYBRID_LLM_MODELS_DIR) return env.HYBRID_LLM_MODELS_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "hybrid-llm", "models");
}

/** The Hugging Face hub `hf:` URIs resolve against: `$HF_ENDPOINT` (as llama.cpp and node-llama-cpp read it), else huggingface.co. */
export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
}

/** A model to download: its URL and the path of its copy under the models folder. */
export interface RemoteModel {
  readonly url: string;
  /** Relative to the models folder. */
  readonly cachePath: string;
}

/** One URL path segment safe as a file name: no `.`/`..`, no separators, nothing a shell or file system minds. */
const safeSegment = /^(?!\.{1,2}$)[A-Za-z0-9._~%+=@,-]+$/;

/**
 * Parses `hf:<owner>/<repo>/<file.gguf>[#<revision>]` (the hub's `resolve/<revision>/` URL, revision `main` by
 * default; the file may sit in folders) or an `http(s)://` URL. Returns undefined for anything else (a local path);
 * a malformed URI is a CommandError.
 */
export function parseModelUri(text: string, env: NodeJS.ProcessEnv = process.env): RemoteModel | undefined {
  if (text.startsWith("hf:")) {
    const [path = "", revision = "main", ...extra] = text.slice(3).split("#");
    const segments = path.split("/");
    if (extra.length > 0 || segments.length < 3 || !segments.every((segment) => safeSegment.test(segment)) || !safeSegment.test(revision)) {
      throw new CommandError(`not a model URI: ${text} (expected hf:<owner>/<repo>/<file.gguf>, optionally #<revision>)`);
    }
    if (!path.endsWith(".gguf")) throw new CommandError(`not a GGUF file: ${text} (name the .gguf file in the repository: hf:<owner>/<repo>/<file.gguf>)`);
    const [owner, repo, ...file] = segments;
    return { url: `${hubEndpoint(env)}/${owner}/${repo}/resolve/${revision}/${file.join("/")}`, cachePath: join("hf", owner!, repo!, revision, ...file) };
  }
  if (/^https?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new CommandError(`not a model URL: ${text}`);
    }
    const segments = url.pathname.split("/").filter((segment) => segment !== "");
    if (segments.length === 0 || !segments.every((segment) => safeSegment.test(segment)) || !safeSegment.test(url.host.replace(":", "_"))) {
      throw new CommandError(`not a model URL: ${text} (it must name a file)`);
    }
    return { url: url.href, cachePath: join("url", url.host.replace(":", "_"), ...segments) };
  }
  return undefined;
}

export interface ResolveModelOptions {
  /** The models folder. Defaults to {@link defaultModelsDir}. */
  readonly modelsDir?: string;
  /** Expected SHA-256 (hex) of a download. */
  readonly sha256?: string;
  /** No progress lines. */
  readonly quiet?: boolean;
}

/**
 * The local path of `--model`'s value: a local file is checked (one-line errors for a missing or unreadable one);
 * an `hf:` URI or URL is downloaded into the models folder unless it is there already (a file is only ever there
 * once its size and SHA-256 were checked), with a progress line on stderr. A failed download is a CommandError with
 * exit code {@link exitCodes.download}.
 */
export async function resolveModel(spec: string, options: ResolveModelOptions = {}): Promise<string> {
  const remote = parseModelUri(spec);
  if (remote === undefined) {
    await checkModelFile(spec);
    return spec;
  }
  const destination = join(options.modelsDir ?? defaultModelsDir(), remote.cachePath);
  if (existsSync(destination) && options.sha256 === undefined) return destination;
  const progress = downloadProgress(basename(destination), options.quiet === true);
  const started = performance.now();
  try {
    if (existsSync(destination)) {
      // Asked for a hash: the copy already here must have it.
      if ((await sha256OfFile(destination)) === options.sha256!.toLowerCase()) return destination;
      throw new DownloadError(`${destination} is already in the models folder with another SHA-256 than --sha256 ${options.sha256}; delete it to download again`, "sha256");
    }
    const announced = await download(remote.url, destination, {
      ...(options.sha256 === undefined ? {} : { sha256: options.sha256 }),
      onProgress: progress.update,
    });
    progress.done(`downloaded ${spec} (${mib(announced.size ?? 0)}, ${announced.sha256 !== null || options.sha256 !== undefined ? "SHA-256 checked" : "size checked, no SHA-256 given"}) in ${((performance.now() - started) / 1000).toFixed(1)} s: ${destination}`);
    return destination;
  } catch (error) {
    progress.done();
    if (error instanceof DownloadError) throw new CommandError(`download failed: ${error.message}`, exitCodes.download);
    throw error;
  }
}

/**
 * The GGUF header (metadata and tensor infos) of `--model`'s value without downloading the weights: for a URI not
 * in the models folder yet, Range requests of 1 MiB, then 4, 16, … until the tensor-info table is complete (what
 * `plan` needs); otherwise the local file's.
 */
export async function readModelHeader(spec: string, options: Pick<ResolveModelOptions, "modelsDir"> = {}): Promise<{ file: GgufFile; path: string | undefined }> {
  const remote = parseModelUri(spec);
  const cached = remote === undefined ? undefined : join(options.modelsDir ?? defaultModelsDir(), remote.cachePath);
  if (remote === undefined || existsSync(cached!)) {
    const path = cached ?? (await resolveModel(spec));
    return { file: await readGgufFile(path), path };
  }
  try {
    const announced = await probe(remote.url);
    if (announced.size === null) throw new DownloadError(`${remote.url}: the server does not say the file's size`, "http");
    for (let length = Math.min(announced.size, 1 << 20); ; length = Math.min(announced.size, length * 4)) {
      const prefix = await fetchPrefix(announced, length);
      if (prefix.length < length) throw new DownloadError(`${remote.url}: got ${prefix.length} bytes where ${length} were asked for`, "size");
      const result = parseGgufPrefix(prefix, announced.size);
      if (!("needMoreBytes" in result)) return { file: result, path: undefined };
      if (length === announced.size) throw new DownloadError(`${remote.url}: the header does not end inside the file`, "size");
    }
  } catch (error) {
    if (error instanceof DownloadError) throw new CommandError(`download failed: ${error.message}`, exitCodes.download);
    throw error;
  }
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** `downloading <file>: 12.3 of 45.6 MiB (27%)`, rewritten in place on a terminal; elsewhere a line per quarter. */
function downloadProgress(name: string, quiet: boolean): { update: (received: number, total: number | null) => void; done: (line?: string) => void } {
  const tty = process.stderr.isTTY === true;
  let shown = -1;
  let open = false;
  return {
    update: (received, total) => {
      if (quiet) return;
      const percent = total ? Math.floor((received / total) * 100) : null;
      const step = tty ? percent ?? Math.floor(received / 2 ** 20) : percent === null ? -1 : Math.floor(percent / 25);
      if (step === shown) return;
      shown = step;
      const text = `downloading ${name}: ${mib(received)}${total ? ` of ${mib(total)} (${percent}%)` : ""}`;
      if (tty) {
        process.stderr.write(`\r${text}\x1b[K`);
        open = true;
      } else {
        process.stderr.write(`${text}\n`);
      }
    },
    done: (line) => {
      if (open) process.stderr.write("\n");
      open = false;
      if (line !== undefined && !quiet) process.stderr.write(`${line}\n`);
    },
  };
}
