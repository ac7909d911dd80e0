#!/usr/bin/env node
// The published presets measured by llama.cpp itself: for each preset in packages/core/src/plan/published-models.json
// a weightless twin (real hyperparameters and tensor shapes, header + sparse data, cached under .cache/weightless) is
// loaded with llama.cpp's no_alloc on the native backend, a context is created at real dimensions (nothing is
// allocated) and llama.cpp's memory breakdown is read. Prints, per preset and point, planned vs llama.cpp's bytes for
// the attention KV cache, the recurrent state and the compute buffers.
//   --write   also records the 1,048,576 × 8 f16 measurements in published-models.json ("measured_1M_x8_f16"); the
//             pre-fix layout's KV (8 streams × 1,048,576 cells) is the measured bytes per cell × 8,388,608 (a context
//             of 8 such streams is measurable too, but llama.cpp's per-cell bookkeeping makes it slow)
//   --preset <id>  only this preset (repeatable)
// Usage: npm run build && npm run presets:measure [-- --write]
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { formatBytes, measurePlans, modelPresets, planMemory } from "@hybrid-llm/core";
import { weightlessPresetFile } from "@hybrid-llm/core/node";
import { NodeBackend } from "@hybrid-llm/node";

const { values } = parseArgs({ options: { write: { type: "boolean" }, preset: { type: "string", multiple: true } } });
const root = fileURLToPath(new URL("..", import.meta.url));
const jsonPath = `${root}packages/core/src/plan/published-models.json`;
const cacheDir = `${root}.cache/weightless`;
const points = [
  { ctx: 1_048_576, slots: 8 },
  { ctx: 65_536, slots: 8, unified: false },
];

const backend = await NodeBackend.create({ gpu: false });
const header = ["preset", "ctx × slots", "KV planned", "KV llama.cpp", "=", "recurrent planned", "recurrent llama.cpp", "=", "compute estimate", "compute llama.cpp"];
const rows = [header];
const json = JSON.parse(readFileSync(jsonPath, "utf8"));
let mismatches = 0;
try {
  for (const preset of modelPresets()) {
    if (values.preset !== undefined && !values.preset.includes(preset.id)) continue;
    const started = Date.now();
    const path = await weightlessPresetFile(preset.id, cacheDir);
    const plans = points.map((point) => planMemory(preset.spec, { ...point, kvType: "f16" }));
    const measured = await measurePlans(backend, path, plans);
    plans.forEach((plan, i) => {
      const m = measured[i];
      const kvEqual = m.attentionKvBytes === plan.attentionKvBytes && m.kvCells === plan.kvCells;
      const rsEqual = m.recurrentStateBytes === plan.recurrentStateBytes;
      if (!kvEqual || !rsEqual) mismatches++;
      const o = plan.options;
      rows.push([
        preset.id,
        `${o.ctx} × ${o.slots}${o.unified ? "" : " per-slot"}`,
        String(plan.attentionKvBytes),
        String(m.attentionKvBytes),
        kvEqual ? "yes" : "NO",
        String(plan.recurrentStateBytes),
        String(m.recurrentStateBytes),
        rsEqual ? "yes" : "NO",
        formatBytes(plan.computeBytesEstimate),
        `${m.computeBytes} (${formatBytes(m.computeBytes)})`,
      ]);
    });
    const [m] = measured;
    const model = json.models.find((candidate) => candidate.id === preset.id);
    delete model.expected_1M_x8_f16;
    model.measured_1M_x8_f16 = {
      attentionKvBytes: m.attentionKvBytes,
      // Pre-fix llama.cpp gave each of the 8 streams the full n_ctx: the measured bytes per cell × 8 × 1,048,576.
      perStreamAttentionKvBytes: plans[0].perStreamAttentionKvBytes === null ? null : (m.attentionKvBytes / m.kvCells) * 8 * 1_048_576,
      recurrentStateBytes: m.recurrentStateBytes,
      kvBytesPerToken: m.attentionKvBytes / m.kvCells,
      recurrentBytesPerSequence: m.recurrentStateBytes / 8,
      computeBytes: m.computeBytes,
      weightsBytes: m.modelBytes,
    };
    if (values.write) writeFileSync(jsonPath, `${JSON.stringify(json, null, 1)}\n`); // after each preset: a long run keeps what it measured
    process.stderr.write(`… ${preset.id} (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
} finally {
  await backend.dispose();
}
const widths = header.map((_, i) => Math.max(...rows.map((row) => row[i].length)));
for (const [i, row] of rows.entries()) {
  console.log(`| ${row.map((cell, j) => cell.padEnd(widths[j])).join(" | ")} |`);
  if (i === 0) console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
}
if (mismatches > 0) {
  console.error(`${mismatches} figure(s) differ`);
  process.exitCode = 1;
}
