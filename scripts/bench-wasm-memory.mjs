#!/usr/bin/env node
// Peak linear memory of the Wasm backend while it loads a model (memory.buffer.byteLength after the load: a Wasm
// memory never shrinks, so that is the peak), against the file's size; and, with --large, the largest model that
// loads: bench-60m's layers repeated and widened to the size asked for, written as a sparse file (zero weights: only the header
// is real bytes on the disk) under .cache/, loaded by path, then deleted.
// Usage: npm run build && npm run bench:wasm-memory [-- --large 3.0]   (--large: GiB of weights; never in CI)
import { closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildFixture, parseGguf, ggufHeader } from "../packages/core/dist/index.js";
import { WasmBackend } from "../packages/wasm/dist/index.js";

const { values } = parseArgs({ options: { large: { type: "string" }, profile: { type: "string", default: "bench-60m" } } });
const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = (n) => `${(n / 2 ** 20).toFixed(1)} MiB`;

async function measure(label, source, fileBytes) {
  const backend = await WasmBackend.create();
  try {
    const before = await backend.memoryBytes();
    const started = performance.now();
    const model = await backend.loadModel(source);
    const seconds = (performance.now() - started) / 1000;
    const after = await backend.memoryBytes();
    const tokens = model.tokenize("Once upon a time");
    const context = await model.createContext({ ctx: 256, slots: 1 });
    await context.decode({ tokens, positions: Int32Array.from(tokens, (_, i) => i), sequenceIds: new Int32Array(tokens.length), outputs: Uint8Array.from(tokens, (_, i) => (i === tokens.length - 1 ? 1 : 0)) });
    const withContext = await backend.memoryBytes();
    console.log(
      `${label}: file ${MiB(fileBytes)}; linear memory ${MiB(before)} before, ${MiB(after)} after the load ` +
        `(= ${(after / fileBytes).toFixed(2)}x the file; a Wasm memory never shrinks, so that is the load's peak), ${MiB(withContext)} with a 256-token context that decoded; load ${seconds.toFixed(1)} s`,
    );
    await context.dispose();
    await model.dispose();
  } finally {
    await backend.dispose();
  }
}

/**
 * bench-60m's header with its 10 layers repeated 20 times and its MLP layers widened until the weights reach `gib`
 * (wide enough, not so wide that the compute buffers balloon), written as a sparse file: only the header is real
 * bytes on the disk; the weights read as zeros (enough to load and decode, not to say anything).
 */
function writeLarge(gib, path) {
  const file = parseGguf(buildFixture("bench-60m"));
  const repeats = 20;
  const layers = Number(file.metadata.get("nemotron_h.block_count").value);
  const count = layers * repeats;
  const embedding = Number(file.metadata.get("nemotron_h.embedding_length").value);
  const ffn = file.metadata.get("nemotron_h.feed_forward_length");
  const kv = file.metadata.get("nemotron_h.attention.head_count_kv");
  const mlpLayers = ffn.value.filter((width) => width > 0).length * repeats;
  const others = file.tensors.filter((t) => !/ffn_(up|down)/.test(t.name));
  const otherBytes = others.reduce((sum, t) => sum + (t.name.startsWith("blk.") ? repeats : 1) * t.byteSize, 0);
  // Each MLP layer holds an up and a down projection of embedding × width f16 values.
  const width = Math.floor((gib * 2 ** 30 - otherBytes) / (mlpLayers * 2 * embedding * 2) / 256) * 256;
  const metadata = new Map(file.metadata);
  metadata.set("nemotron_h.block_count", { type: "uint32", value: count });
  metadata.set("nemotron_h.feed_forward_length", { ...ffn, value: Array.from({ length: count }, (_, i) => (ffn.value[i % layers] > 0 ? width : 0)) });
  metadata.set("nemotron_h.attention.head_count_kv", { ...kv, value: Array.from({ length: count }, (_, i) => kv.value[i % layers]) });
  const dims = (t) => (t.name.endsWith("ffn_up.weight") ? [embedding, width] : t.name.endsWith("ffn_down.weight") ? [width, embedding] : t.dims);
  const tensors = file.tensors.filter((t) => !t.name.startsWith("blk.")).map((t) => ({ name: t.name, type: t.type, dims: t.dims }));
  for (let i = 0; i < count; i++) {
    for (const t of file.tensors.filter((t) => t.name.startsWith(`blk.${i % layers}.`))) {
      tensors.push({ name: t.name.replace(/^blk\.\d+\./, `blk.${i}.`), type: t.type, dims: dims(t) });
    }
  }
  const header = ggufHeader(metadata, tensors);
  const fd = openSync(path, "w");
  writeSync(fd, header.bytes);
  ftruncateSync(fd, header.dataOffset + header.dataSize);
  closeSync(fd);
  return header.dataOffset + header.dataSize;
}

const path = join(root, ".cache", "fixtures", `${values.profile}.gguf`);
const bytes = existsSync(path) ? new Uint8Array(readFileSync(path)) : buildFixture(values.profile);
await measure(`${values.profile} from bytes`, { bytes }, bytes.length);
if (existsSync(path)) await measure(`${values.profile} from a path`, { path }, bytes.length);
if (values.large !== undefined) {
  mkdirSync(join(root, ".cache", "bench"), { recursive: true });
  const largePath = join(root, ".cache", "bench", "wasm-memory-large.gguf");
  try {
    const size = writeLarge(Number(values.large), largePath);
    await measure(`bench-60m × 20 layers, widened to ${(size / 2 ** 30).toFixed(2)} GiB (sparse, zero weights) from a path`, { path: largePath }, size);
  } catch (error) {
    console.log(`large model (${values.large} GiB): ${error?.name ?? "Error"}: ${error?.message ?? error}`);
  } finally {
    rmSync(largePath, { force: true });
  }
}
