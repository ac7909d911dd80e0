import { availableParallelism } from "node:os";
import { type Backend, type BackendContext, type BackendModel, type ContextOptions, type MemoryPlan, formatBytes, planContext } from "@hybrid-llm/core";
import { MAX_WASM_THREADS } from "@hybrid-llm/wasm";
import { backendOption, createBackend, gpuOption, rpcOption } from "./backends.js";
import { resolveModel } from "./model-source.js";

/**
 * Default CPU threads: 1 on small machines — on 2-vCPU machines llama.cpp's spinning thread pool made 2 threads
 * 50× slower than 1 (measured) — half the logical cores on larger ones, at most 64 (the Wasm backend's limit,
 * `MAX_WASM_THREADS`: a default must not be an error there).
 */
export function defaultThreads(): number {
  const cores = availableParallelism();
  return cores >= 8 ? Math.min(MAX_WASM_THREADS, Math.floor(cores / 2)) : 1;
}

/**
 * A `loading <path>: n%` line on stderr (when `show`), ended by `done()`. Progress the backend reports after the
 * load has returned (its last events can arrive late) is dropped, so it never lands in the middle of later output.
 */
export function loadProgressLine(path: string, show: boolean): { onProgress: (fraction: number) => void; done: () => void } {
  let open = show;
  let written = false;
  return {
    onProgress: (fraction) => {
      if (!open) return;
      written = true;
      process.stderr.write(`\rloading ${path}: ${Math.round(fraction * 100)}%`);
    },
    done: () => {
      if (open && written) process.stderr.write("\n");
      open = false;
    },
  };
}

/** What serve, bench and demo share: a backend, a model, a context, and the plan it was created from. */
export interface OpenModel {
  /** The model file (for an hf: URI or URL, its downloaded copy). */
  readonly path: string;
  readonly backend: Backend;
  readonly model: BackendModel;
  readonly context: BackendContext;
  readonly plan: MemoryPlan;
  dispose(): Promise<void>;
}

/**
 * Loads a model (a file, or an hf: URI / URL downloaded first; with a progress line on stderr when it is a
 * terminal) and creates its serving context. A bad `backend` or `gpu` is a usage error (with `usage`), a missing or
 * unreadable file a one-line ModelFileError, a failed download a CommandError, all before anything is loaded.
 */
export async function openModel(options: {
  readonly path: string;
  readonly backend: string;
  readonly gpu: string;
  /** `--rpc` and `--tensor-split` as typed. */
  readonly rpc?: string | undefined;
  readonly tensorSplit?: string | undefined;
  readonly usage: string;
  readonly context: ContextOptions;
  readonly quiet?: boolean;
}): Promise<OpenModel> {
  const backendName = backendOption(options.backend, options.usage);
  const gpu = gpuOption(options.gpu, options.usage, backendName);
  const rpc = rpcOption(options.rpc, options.tensorSplit, options.usage, backendName);
  const path = await resolveModel(options.path, { ...(options.quiet === undefined ? {} : { quiet: options.quiet }) });
  const backend = await createBackend(backendName, gpu, rpc, options.context.threads);
  try {
    const progress = loadProgressLine(path, !options.quiet && process.stderr.isTTY);
    const model = await backend.loadModel({ path }, { onProgress: progress.onProgress }).finally(progress.done);
    const { plan } = planContext(model.info.cacheSpec, options.context);
    if (!options.quiet) {
      process.stderr.write(
        `${model.info.architecture} on ${backend.name} (${backend.device.kind}: ${backend.device.name}${rpc === undefined ? "" : `, layers on RPC workers ${rpc.servers.join(", ")}`}); ` +
          `KV ${formatBytes(plan.attentionKvBytes)} for ${plan.nCtx} cells shared by ${plan.options.slots} slots` +
          (plan.perStreamAttentionKvBytes !== null ? ` (pre-fix llama.cpp: ${formatBytes(plan.perStreamAttentionKvBytes)})` : "") +
          `, recurrent state ${formatBytes(plan.recurrentStateBytes)}\n`,
      );
    }
    const context = await model.createContext(options.context);
    return { path, backend, model, context, plan, dispose: () => backend.dispose() };
  } catch (error) {
    await backend.dispose();
    throw error;
  }
}
