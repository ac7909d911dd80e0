import { parseArgs } from "node:util";
import {
  type CacheSpec,
  type FitResult,
  type KvCacheType,
  type MemoryPlan,
  type MemoryPlanOptions,
  fitContextToBudget,
  fitSlotsToBudget,
  formatBytes,
  isKvCacheType,
  kvCacheTypes,
  modelPreset,
  modelPresets,
  parseByteSize,
  planMemory,
  planTotalBytes,
  weightsBytesOf,
  cacheSpecFromMetadata,
  checkpointBytes,
  defaultCheckpointBudgetBytes,
  defaultCheckpointsPerSlot,
  type VerifiedAllocation,
  canMeasure,
  contextOptionsOf,
  verifyPlan,
} from "@hybrid-llm/core";
import { readGgufFile, weightlessPresetFile, weightlessTwinFile } from "@hybrid-llm/core/node";
import { homedir } from "node:os";
import { join } from "node:path";
import { backendNames, backendOption, createBackend, defaultGpu, gpuOption, gpuUsage, rpcOption } from "./backends.js";
import { planDevices, printDevices } from "./plan-devices.js";
import { readModelHeader, resolveModel } from "./model-source.js";
import { integerOption } from "./options.js";
import { count, renderTable } from "./table.js";
import { UsageError } from "./usage-error.js";

export const planUsage = `hybrid-llm plan <model.gguf | hf:owner/repo/file.gguf | https://…> [options]
hybrid-llm plan --preset <id> [options]
hybrid-llm plan --list-presets

Plans, before loading anything, exactly what llama.cpp will allocate for a model's attention KV cache and
recurrent state, and contrasts one shared KV pool with per-slot streams and with pre-fix llama.cpp. For an hf:
URI or URL it reads only the file's header (Range requests), unless --verify, which downloads the model.

  --ctx <n>                 context tokens for all slots together (default: the model's trained context)
  --slots <n>               parallel sequences, 1–256 (default: 1)
  --kv-type <t>             K and V cache type: ${kvCacheTypes.join(", ")} (default: f16)
  --kv-type-k <t>           K cache type (overrides --kv-type)
  --kv-type-v <t>           V cache type (overrides --kv-type; quantized V needs flash attention)
  --no-unified              one KV stream per slot instead of one shared pool
  --no-flash-attention      plan for flash attention off (V transposed and padded to the widest layer)
  --rs-snapshots <n>        recurrent rollback snapshots per sequence (llama.cpp n_rs_seq, default: 0)
  --ubatch <n>              micro-batch (llama.cpp n_ubatch), which sizes the compute buffers and a window-sized SWA cache (default: 512)
  --no-measure              do not ask llama.cpp for the compute buffers: print the formula's estimate (±2×, not
                            a bound). By default the native backend measures them exactly with llama.cpp's no_alloc
                            against the model file, or a weightless twin of its shape (header + sparse data, cached
                            under ~/.cache/hybrid-llm/weightless) for a preset or a header read over HTTP
  --no-swa-full             sliding-window models: size the SWA cache by the window (llama.cpp swa_full = false)
  --budget <size>           memory budget, e.g. 80GiB, 24GB, 2.5e10; with --slots and no --ctx: the largest
                            context that fits; with --ctx and no --slots: the most slots; with both: whether it fits
  --checkpoint-budget <size> host memory for prefix-cache checkpoints: how many it holds
                            (default: ${defaultCheckpointsPerSlot} per slot, as serve uses)
  --verify                  create the planned context on a real backend and compare, byte for byte, with what
                            llama.cpp allocated (KV, recurrent state, compute buffers; model files only)
  --backend <name>          backend for --verify: ${backendNames.join(", ")} (default: node)
  --gpu <api>               llama.cpp build for --verify: ${gpuUsage}
  --rpc <host:port,...>     plan per device with every layer on these llama.cpp RPC workers (one device each);
                            with --verify, load there and compare each worker's allocation
  --tensor-split <w,...>    weights per device for --rpc: local GPUs first, then the workers (default: equal)
  --json                    print one JSON object instead of tables`;

interface Model {
  readonly label: string;
  readonly spec: CacheSpec;
  readonly weightsBytes: number | undefined;
  readonly source: { readonly file: string } | { readonly preset: string };
  /** A file llama.cpp can load with no_alloc to measure: the model itself, or a weightless twin of its shape. */
  readonly measurable: () => Promise<string>;
}

/** Where weightless twins (header + sparse data) are cached. */
function weightlessDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "hybrid-llm", "weightless");
}

/** The plan's compute buffers: measured by llama.cpp (no_alloc), or the formula's estimate and why. */
type Compute = { readonly bytes: number; readonly measured: true } | { readonly bytes: number; readonly measured: false; readonly why: string };

async function loadModel(positional: string | undefined, preset: string | undefined, needFile: boolean): Promise<Model> {
  if (preset !== undefined) {
    if (positional !== undefined) throw new UsageError("give a model file or --preset, not both", planUsage);
    const found = modelPreset(preset);
    if (found === undefined) {
      throw new UsageError(`unknown preset "${preset}" (one of ${modelPresets().map((p) => p.id).join(", ")})`, planUsage);
    }
    return {
      label: `${found.name} — preset ${found.id}`,
      spec: found.spec,
      weightsBytes: undefined,
      source: { preset: found.id },
      measurable: () => weightlessPresetFile(found.id, weightlessDir()),
    };
  }
  if (positional === undefined) throw new UsageError("give a model file or --preset <id>", planUsage);
  // --verify loads the model, so a URI is downloaded; a plan alone reads only the header (over HTTP if need be).
  let path: string | undefined;
  let file;
  if (needFile) {
    path = await resolveModel(positional);
    file = await readGgufFile(path);
  } else {
    ({ file, path } = await readModelHeader(positional));
  }
  const spec = cacheSpecFromMetadata(file.metadata);
  const name = file.metadata.get("general.name");
  return {
    label: `${name?.type === "string" ? name.value : positional}`,
    spec,
    weightsBytes: weightsBytesOf(file),
    source: { file: path ?? positional },
    // A local (or downloaded) file is measured as is: no_alloc reads its header only.
    measurable: async () => path ?? weightlessTwinFile(file, weightlessDir()),
  };
}

function optionalInteger(name: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : integerOption(name, text, 0, planUsage);
}

function kvTypeOption(name: string, text: string | undefined): KvCacheType | undefined {
  if (text === undefined) return undefined;
  if (!isKvCacheType(text)) throw new UsageError(`--${name} must be one of ${kvCacheTypes.join(", ")}, got "${text}"`, planUsage);
  return text;
}

export async function planCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    allowNegative: true,
    options: {
      preset: { type: "string" },
      "list-presets": { type: "boolean" },
      ctx: { type: "string" },
      slots: { type: "string" },
      "kv-type": { type: "string" },
      "kv-type-k": { type: "string" },
      "kv-type-v": { type: "string" },
      unified: { type: "boolean", default: true },
      "flash-attention": { type: "boolean", default: true },
      "rs-snapshots": { type: "string" },
      ubatch: { type: "string" },
      "swa-full": { type: "boolean", default: true },
      budget: { type: "string" },
      "checkpoint-budget": { type: "string" },
      json: { type: "boolean" },
      verify: { type: "boolean" },
      measure: { type: "boolean", default: true },
      backend: { type: "string", default: "node" },
      gpu: { type: "string", default: defaultGpu },
      rpc: { type: "string" },
      "tensor-split": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(planUsage);
  if (values["list-presets"]) {
    for (const preset of modelPresets()) print(`${preset.id.padEnd(26)} ${preset.architecture.padEnd(16)} ${preset.name}`);
    return;
  }
  if (positionals.length > 1) throw new UsageError(`expected one model file, got ${positionals.length}`, planUsage);
  const backendName = backendOption(values.backend, planUsage);
  const gpu = gpuOption(values.gpu, planUsage, backendName);
  const rpc = rpcOption(values.rpc, values["tensor-split"], planUsage, backendName);
  const model = await loadModel(positionals[0], values.preset, values.verify === true);

  let checkpointBudget: number | undefined;
  if (values["checkpoint-budget"] !== undefined) {
    checkpointBudget = parseByteSize(values["checkpoint-budget"]);
    if (checkpointBudget === undefined) throw new UsageError(`--checkpoint-budget must be a size such as 2GiB, got "${values["checkpoint-budget"]}"`, planUsage);
  }
  let budget: number | undefined;
  if (values.budget !== undefined) {
    budget = parseByteSize(values.budget);
    if (budget === undefined || budget <= 0) throw new UsageError(`--budget must be a size such as 80GiB or 24GB, got "${values.budget}"`, planUsage);
  }
  const requestedCtx = optionalInteger("ctx", values.ctx);
  const requestedSlots = optionalInteger("slots", values.slots);
  const base: Omit<MemoryPlanOptions, "ctx" | "slots"> = {
    kvType: kvTypeOption("kv-type", values["kv-type"]) ?? "f16",
    kvTypeK: kvTypeOption("kv-type-k", values["kv-type-k"]),
    kvTypeV: kvTypeOption("kv-type-v", values["kv-type-v"]),
    unified: values.unified,
    flashAttention: values["flash-attention"],
    recurrentSnapshots: optionalInteger("rs-snapshots", values["rs-snapshots"]) ?? 0,
    ubatch: optionalInteger("ubatch", values.ubatch) ?? 512,
    swaFull: values["swa-full"],
  };

  // With a budget and one of ctx / slots missing, fit the missing one; otherwise plan what was asked.
  let fit: FitResult | null | undefined;
  let fitted: "ctx" | "slots" | undefined;
  let options: MemoryPlanOptions;
  if (budget !== undefined && requestedCtx === undefined) {
    fitted = "ctx";
    const slots = requestedSlots ?? 1;
    fit = fitContextToBudget(model.spec, { ...base, slots, budget, weightsBytes: model.weightsBytes });
    options = { ...base, slots, ctx: fit?.plan.nCtx ?? 256 };
  } else if (budget !== undefined && requestedSlots === undefined) {
    fitted = "slots";
    const ctx = requestedCtx ?? model.spec.contextLength;
    fit = fitSlotsToBudget(model.spec, { ...base, ctx, budget, weightsBytes: model.weightsBytes });
    options = { ...base, ctx, slots: fit?.plan.options.slots ?? 1 };
  } else {
    options = { ...base, ctx: requestedCtx ?? model.spec.contextLength, slots: requestedSlots ?? 1 };
  }

  const plan = planMemory(model.spec, options);
  // The same request in the other KV layout, for the comparison.
  const other = planMemory(model.spec, { ...options, unified: !plan.options.unified });
  const shared = plan.options.unified ? plan : other;
  const perSlot = plan.options.unified ? other : plan;
  const totalBytes = planTotalBytes(plan, model.weightsBytes);
  // The prefix cache's checkpoints live in host memory, outside the context: how many the budget holds.
  const oneCheckpoint = checkpointBytes(model.spec);
  const checkpoints =
    oneCheckpoint === undefined
      ? undefined
      : (() => {
          const budgetBytes = checkpointBudget ?? defaultCheckpointBudgetBytes(model.spec, plan.options.slots);
          return { bytes: oneCheckpoint, budgetBytes, count: Math.floor(budgetBytes / oneCheckpoint) };
        })();

  const progress = values.json ? undefined : (message: string) => process.stderr.write(`… ${message}\n`);
  let allocated: VerifiedAllocation | undefined;
  let compute: Compute = { bytes: plan.computeBytesEstimate, measured: false, why: "--no-measure" };
  if (values.verify && !("file" in model.source)) throw new UsageError("--verify needs a model file, not a preset", planUsage);
  if (values.measure || values.verify) {
    // --verify allocates on the layers' devices (the RPC workers too); the measurement alone runs locally.
    const backend = await createBackend(values.verify ? backendName : "node", gpu, values.verify ? rpc : undefined).catch((error: unknown) => error as Error);
    if (backend instanceof Error) {
      if (values.verify) throw backend;
      compute = { bytes: plan.computeBytesEstimate, measured: false, why: `no native backend to measure with (${backend.message})` };
    } else {
      try {
        if (values.measure && rpc !== undefined) {
          // Split over RPC workers, each device reserves its own compute buffers; the measurement runs locally.
          compute = { bytes: plan.computeBytesEstimate, measured: false, why: "a split over RPC workers is not measured (compute buffers per device)" };
        } else if (values.measure && canMeasure(backend)) {
          progress?.("measuring the compute buffers with llama.cpp (no_alloc)");
          try {
            const [measured] = await backend.measureAllocations(await model.measurable(), [contextOptionsOf(plan)]);
            compute = { bytes: measured!.computeBytes, measured: true };
          } catch (error) {
            // The plan stands without it: say why the figure is the estimate.
            compute = { bytes: plan.computeBytesEstimate, measured: false, why: `llama.cpp could not measure: ${(error as Error).message}` };
          }
        } else if (values.measure) {
          compute = { bytes: plan.computeBytesEstimate, measured: false, why: `the ${backend.name} backend cannot measure without allocating` };
        }
        // Every layer on the chosen device (the GPU with --gpu, the RPC workers with --rpc, else the CPU), as the
        // no_alloc measurement and a serving engine place them.
        if (values.verify && "file" in model.source) allocated = await verifyPlan(backend, model.source.file, plan, progress, { gpuLayers: "max" });
      } finally {
        await backend.dispose();
      }
    }
  }
  // The total counts the measured compute buffers where llama.cpp gave them.
  const totalWithCompute = totalBytes - plan.computeBytesEstimate + compute.bytes;
  const fits = budget === undefined ? undefined : fit === null ? false : totalWithCompute <= budget;

  const devices = rpc === undefined ? undefined : planDevices(model.spec, plan, rpc, allocated);
  if (values.json) {
    print(
      JSON.stringify(
        {
          model: model.source,
          architecture: plan.architecture,
          kind: plan.kind,
          ctx: plan.options.ctx,
          nCtx: plan.nCtx,
          slots: plan.options.slots,
          kvTypeK: plan.options.kvTypeK,
          kvTypeV: plan.options.kvTypeV,
          unified: plan.options.unified,
          flashAttention: plan.options.flashAttention,
          kvCells: plan.kvCells,
          kvStreams: plan.kvStreams,
          cellsPerStream: plan.cellsPerStream,
          attentionLayers: plan.attentionLayerCount,
          recurrentLayers: plan.recurrentLayerCount,
          attentionBytesPerCell: plan.attentionBytesPerCell,
          attentionKBytes: plan.attentionKBytes,
          attentionVBytes: plan.attentionVBytes,
          attentionKvBytes: plan.attentionKvBytes,
          ...(plan.slidingLayerCount === 0
            ? {}
            : { slidingWindow: plan.slidingWindow, slidingLayers: plan.slidingLayerCount, swaFull: plan.options.swaFull, swaCellsPerStream: plan.swaCellsPerStream, swaKvBytes: plan.swaKvBytes }),
          sharedPoolAttentionKvBytes: shared.attentionKvBytes,
          perSlotStreamsAttentionKvBytes: perSlot.attentionKvBytes,
          perStreamAttentionKvBytes: plan.perStreamAttentionKvBytes,
          recurrentBytesPerSequence: plan.recurrentBytesPerSequence,
          recurrentStateBytes: plan.recurrentStateBytes,
          ...(model.weightsBytes === undefined ? {} : { weightsBytes: model.weightsBytes }),
          computeBytesEstimate: plan.computeBytesEstimate,
          computeBytes: compute.bytes,
          computeSource: compute.measured ? "llama.cpp no_alloc" : `estimate (${compute.why})`,
          totalBytes: totalWithCompute,
          ...(checkpoints === undefined ? {} : { checkpointBytes: checkpoints.bytes, checkpointBudgetBytes: checkpoints.budgetBytes, checkpointsInBudget: checkpoints.count }),
          ...(budget === undefined ? {} : { budget: { bytes: budget, fitted: fitted ?? null, fits } }),
          ...(devices === undefined ? {} : { devices }),
          ...(allocated === undefined
            ? {}
            : {
                allocated: {
                  attentionKvBytes: allocated.attentionKvBytes,
                  recurrentStateBytes: allocated.recurrentStateBytes,
                  contextBytes: allocated.contextBytes,
                  computeBytes: allocated.computeBytes,
                  kvCells: allocated.kvCells,
                  method: allocated.method,
                },
                // With --rpc, each worker's share must match too (the totals can agree while layers sit elsewhere).
                matches:
                  allocated.attentionKvBytes === plan.attentionKvBytes &&
                  allocated.recurrentStateBytes === plan.recurrentStateBytes &&
                  allocated.kvCells === plan.kvCells &&
                  // An estimate is not a claim to compare.
                  (!compute.measured || allocated.computeBytes === compute.bytes) &&
                  (devices ?? []).every((device) => device.allocatedContextBytes === undefined || device.allocatedContextBytes === device.attentionKvBytes + device.recurrentStateBytes),
              }),
        },
        null,
        2,
      ),
    );
    return;
  }
  printHuman(print, model, plan, shared, perSlot, totalWithCompute, compute, budget, fitted, fits);
  if (checkpoints !== undefined) {
    print("");
    print(
      `prefix cache (host memory): one checkpoint = ${formatBytes(checkpoints.bytes)} (${plan.slidingLayerCount > 0 ? "one sequence's recurrent state and its sliding window's cells" : "one sequence's recurrent state"}); ` +
        `${checkpointBudget === undefined ? `the default budget (${defaultCheckpointsPerSlot} per slot)` : "--checkpoint-budget"} ${formatBytes(checkpoints.budgetBytes)} holds ${count(checkpoints.count)}.`,
    );
  }
  if (allocated !== undefined) printVerification(print, plan, compute, allocated, values.backend);
  if (devices !== undefined) printDevices(print, devices, rpc!);
}

function printVerification(print: (line: string) => void, plan: MemoryPlan, compute: Compute, allocated: VerifiedAllocation, backend: string): void {
  const row = (what: string, planned: number, actual: number) => [what, count(planned), count(actual), planned === actual ? "✓" : "✗ MISMATCH"];
  print("");
  print(`verified on the ${backend} backend (llama.cpp's own allocation, exact bytes):`);
  print(
    renderTable(
      [
        ["", "planned", "allocated", ""],
        row("KV cells", plan.kvCells, allocated.kvCells),
        row("attention KV bytes", plan.attentionKvBytes, allocated.attentionKvBytes),
        row("recurrent state bytes", plan.recurrentStateBytes, allocated.recurrentStateBytes),
        row("context total bytes", plan.attentionKvBytes + plan.recurrentStateBytes, allocated.contextBytes),
        compute.measured
          ? row("compute buffer bytes", compute.bytes, allocated.computeBytes)
          : ["compute buffer bytes (estimate)", count(compute.bytes), count(allocated.computeBytes), "not measured"],
      ],
      [1, 2],
    ),
  );
  // Where llama.cpp put it: the device's buffers (CUDA0, RPC0[…], CPU, CUDA_Host for pinned staging).
  const placed = allocated.buffers
    .filter((buffer) => buffer.contextBytes > 0 || buffer.computeBytes > 0)
    .map((buffer) => {
      const parts = [buffer.contextBytes > 0 ? `context ${formatBytes(buffer.contextBytes)}` : "", buffer.computeBytes > 0 ? `compute ${formatBytes(buffer.computeBytes)}` : ""];
      return `${buffer.bufferType} (${parts.filter(Boolean).join(", ")})`;
    });
  if (placed.length > 0) print(`allocated in: ${placed.join("; ")}`);
}

function printHuman(
  print: (line: string) => void,
  model: Model,
  plan: MemoryPlan,
  shared: MemoryPlan,
  perSlot: MemoryPlan,
  totalBytes: number,
  compute: Compute,
  budget: number | undefined,
  fitted: "ctx" | "slots" | undefined,
  fits: boolean | undefined,
): void {
  const o = plan.options;
  const spec = model.spec;
  print(`${model.label} (${plan.architecture}, ${plan.kind}, ${spec.layerCount} layers)`);
  print(
    `ctx ${count(o.ctx)} → n_ctx ${count(plan.nCtx)} · ${o.slots} slot${o.slots === 1 ? "" : "s"} · KV ${o.kvTypeK}/${o.kvTypeV} · ` +
      `${o.unified ? "unified: 1 stream" : `per-slot: ${plan.kvStreams} streams`} × ${count(plan.cellsPerStream)} cells · ` +
      `flash attention ${o.flashAttention ? "on" : "off"}${o.recurrentSnapshots > 0 ? ` · ${o.recurrentSnapshots} rs snapshots` : ""}`,
  );
  if (plan.slidingLayerCount > 0) {
    print(
      `sliding window ${count(plan.slidingWindow)} tokens on ${plan.slidingLayerCount} of ${plan.attentionLayerCount} attention layers (iSWA): ` +
        `SWA cache ${count(plan.swaCellsPerStream)} cells per stream, ${o.swaFull ? "full-size (--no-swa-full: by the window)" : "sized by the window"}`,
    );
  }
  print("");
  const other = spec.layerCount - spec.nextnLayerCount - new Set([...spec.attention.layers.map((l) => l.layer), ...(spec.recurrent?.layers ?? [])]).size;
  const rows: string[][] = [["layer kind", "layers", "per unit", "unit", "allocated"]];
  if (plan.attentionLayerCount > 0) {
    rows.push(["attention KV", String(plan.attentionLayerCount), formatBytes(plan.attentionBytesPerCell), "cell (token)", formatBytes(plan.attentionKvBytes)]);
  }
  if (spec.recurrent !== null) {
    rows.push([`recurrent (${spec.recurrent.family})`, String(plan.recurrentLayerCount), formatBytes(plan.recurrentBytesPerSequence), "sequence", formatBytes(plan.recurrentStateBytes)]);
  }
  if (other > 0) rows.push(["MLP / MoE (no cache)", String(other), "—", "", "—"]);
  print(renderTable(rows, [1, 2, 4]));
  print("");

  if (plan.attentionLayerCount > 0) {
    const kvRows: string[][] = [["attention KV layout", "streams × cells", "allocated", "vs shared"]];
    const ratio = (bytes: number) => `${(bytes / shared.attentionKvBytes).toFixed(2)}×`;
    kvRows.push([`shared pool (unified)${o.unified ? "  ◀" : ""}`, `1 × ${count(shared.cellsPerStream)}`, formatBytes(shared.attentionKvBytes), "1.00×"]);
    kvRows.push([`per-slot streams${o.unified ? "" : "  ◀"}`, `${perSlot.kvStreams} × ${count(perSlot.cellsPerStream)}`, formatBytes(perSlot.attentionKvBytes), ratio(perSlot.attentionKvBytes)]);
    if (plan.perStreamAttentionKvBytes !== null) {
      kvRows.push(["pre-fix llama.cpp (< PR #19559)", `${o.slots} × ${count(Math.ceil(o.ctx / 256) * 256)}`, formatBytes(plan.perStreamAttentionKvBytes), ratio(plan.perStreamAttentionKvBytes)]);
    }
    print(renderTable(kvRows, [2, 3]));
    print("");
  }

  const totals: string[][] = [["memory", "bytes"]];
  totals.push(["weights", model.weightsBytes === undefined ? "unknown (preset)" : formatBytes(model.weightsBytes)]);
  totals.push(["attention KV", formatBytes(plan.attentionKvBytes)]);
  totals.push(["recurrent state", formatBytes(plan.recurrentStateBytes)]);
  totals.push(
    compute.measured
      ? ["compute buffers (measured by llama.cpp, no_alloc)", formatBytes(compute.bytes)]
      : [`compute buffers (estimate, ±2×, not a bound: ${compute.why})`, `~${formatBytes(compute.bytes)}`],
  );
  totals.push([model.weightsBytes === undefined ? "total (without weights)" : "total", formatBytes(totalBytes)]);
  print(renderTable(totals, [1]));

  if (budget !== undefined) {
    print("");
    if (fits === false && fitted !== undefined) {
      print(`budget ${formatBytes(budget)}: nothing fits — even ${fitted === "ctx" ? "256 tokens" : "one slot"} needs more (${formatBytes(totalBytes)} shown above).`);
    } else if (fitted === "ctx") {
      print(`budget ${formatBytes(budget)}: largest context for ${o.slots} slot(s) is ${count(plan.nCtx)} tokens (${formatBytes(totalBytes)} used).`);
    } else if (fitted === "slots") {
      print(`budget ${formatBytes(budget)}: at most ${o.slots} slot(s) at ${count(o.ctx)} tokens (${formatBytes(totalBytes)} used).`);
    } else {
      print(`budget ${formatBytes(budget)}: ${fits ? `fits, ${formatBytes(budget - totalBytes)} to spare` : `does not fit, ${formatBytes(totalBytes - budget)} over`}.`);
    }
  }
}
