import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
// @ts-expect-error: a plain .mjs script without declarations
import { packAndInstall, projectEnv, workspaces } from "../scripts/pack-install.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

/** What a package user writes: a plain .mjs importing the installed packages, one greedy generation per backend. */
const script = `import { buildFixture, generateOnce } from "@hybrid-llm/core";
const which = (globalThis.Deno?.args ?? process.argv.slice(2))[0];
const backend = which === "wasm"
  ? await (await import("@hybrid-llm/wasm")).WasmBackend.create()
  : await (await import("@hybrid-llm/node")).NodeBackend.create({ gpu: "off" });
try {
  const model = await backend.loadModel({ bytes: buildFixture("tiny") });
  const context = await model.createContext({ ctx: 256, slots: 1, threads: 1 });
  const result = await generateOnce(model, context, model.tokenize("Once upon a time"), { temperature: 0, maxTokens: 8 });
  console.log(JSON.stringify({ runtime: globalThis.Deno ? "deno" : "node", backend: backend.name, tokens: result.tokens }));
} finally {
  await backend.dispose();
}
`;

let project: string;
let installLog: string;

// npm pack of every workspace package, then `npm ci --offline` of the tarballs in a fresh folder outside the repository
// (registry packages from the npm cache that the repository's npm ci filled; CPU-only to stay quick).
beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), "hybrid-llm-pack-install-"));
  const installed = await packAndInstall(project, { cpuOnly: true });
  installLog = installed.log;
  await writeFile(join(project, "generate.mjs"), script);
  process.stderr.write(`[pack-install] installed in ${(installed.installMs / 1000).toFixed(1)} s, node_modules ${(installed.installedBytes / 2 ** 20).toFixed(0)} MiB\n`);
});

afterAll(async () => {
  if (project !== undefined) await rm(project, { recursive: true, force: true });
});

const generate = async (command: string, args: string[]) => {
  const { stdout } = await run(command, args, { cwd: project, env: projectEnv({ NO_COLOR: "1" }), timeout: 120_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as { runtime: string; backend: string; tokens: number[] };
};

describe("the packed packages, installed from their tarballs", () => {
  test("pin one version: every internal dependency names the version of the package it depends on", async () => {
    type Manifest = { name: string; version: string; dependencies?: Record<string, string> };
    const manifests: Manifest[] = await Promise.all(workspaces.map(async (name: string) => JSON.parse(await readFile(join(root, "packages", name, "package.json"), "utf8"))));
    const versions = new Map(manifests.map((manifest) => [manifest.name, manifest.version]));
    for (const manifest of manifests) {
      for (const [dependency, range] of Object.entries(manifest.dependencies ?? {})) {
        if (versions.has(dependency)) expect(`${manifest.name} → ${dependency}@${range}`).toBe(`${manifest.name} → ${dependency}@${versions.get(dependency)}`);
      }
    }
  });

  test("install without building: the prebuilt addon loads and the Wasm module ships", () => {
    expect(installLog).toContain("using the prebuilt addon (build/hybrid-llm.node)");
    expect(installLog).toContain("using the shipped Wasm module");
    expect(installLog).not.toContain("../../");
  });

  test("generate with each backend from a plain .mjs, the same greedy tokens, under Node and Deno (both backends)", async () => {
    const native = await generate(process.execPath, ["generate.mjs", "node"]);
    const wasm = await generate(process.execPath, ["generate.mjs", "wasm"]);
    const deno = join(root, "node_modules", ".bin", "deno");
    const denoWasm = await generate(deno, ["run", "--allow-read", "--allow-env", "--allow-write", "generate.mjs", "wasm"]);
    // The native addon under Deno too (Node-API needs --allow-ffi).
    const denoNative = await generate(deno, ["run", "--allow-read", "--allow-env", "--allow-write", "--allow-ffi", "generate.mjs", "node"]);
    expect(native).toMatchObject({ runtime: "node", backend: "node" });
    expect(native.tokens).toHaveLength(8);
    expect(wasm).toEqual({ ...native, backend: "wasm" });
    expect(denoWasm).toEqual({ ...native, runtime: "deno", backend: "wasm" });
    expect(denoNative).toEqual({ ...native, runtime: "deno" });
  });

  test("the installed hybrid-llm command writes a fixture and generates from it", async () => {
    const bin = join(project, "node_modules", ".bin", "hybrid-llm");
    await run(bin, ["fixture", "tiny", "--out", "tiny.gguf"], { cwd: project });
    const { stdout } = await run(bin, ["generate", "--model", "tiny.gguf", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "8", "--json", "--gpu", "off"], { cwd: project });
    const result = JSON.parse(stdout);
    expect(result.backend.name).toBe("node");
    expect(result.usage.completionTokens).toBe(8);
  });

  test("the installed server serves its web page (ui/ ships in the package) and the engine feed", async () => {
    const page = `import { Engine } from "@hybrid-llm/core";
import { MockBackend } from "@hybrid-llm/core/testing";
import { createServer } from "@hybrid-llm/server";
const model = await new MockBackend().loadModel();
const engine = new Engine({ model, context: await model.createContext({ ctx: 64, slots: 1 }) });
const app = createServer({ engine, modelName: "m" });
const index = await app.request("/");
const script = await app.request("/ui/app.js");
const feed = await app.request("/v1/engine/events");
const first = await feed.body.getReader().read();
console.log(JSON.stringify({ index: index.status, loadsScript: (await index.text()).includes("/ui/app.js"), script: script.status, feed: new TextDecoder().decode(first.value).split("\\n")[0] }));
await engine.dispose();
process.exit(0);
`;
    await writeFile(join(project, "page.mjs"), page);
    const { stdout } = await run(process.execPath, ["page.mjs"], { cwd: project, env: projectEnv({}), timeout: 60_000 });
    expect(JSON.parse(stdout.trim())).toEqual({ index: 200, loadsScript: true, script: 200, feed: "event: snapshot" });
  });

  // The fallback for platforms without a prebuilt addon, forced here: the installed package's own sources and build script.
  test("the source build works from the installed package (HYBRID_LLM_BUILD_FROM_SOURCE=1 npm rebuild)", async () => {
    const addon = join(project, "node_modules", "@hybrid-llm", "node", "build", "hybrid-llm.node");
    const before = (await stat(addon)).mtimeMs;
    const { stdout, stderr } = await run("npm", ["rebuild", "@hybrid-llm/node", "--offline", "--foreground-scripts"], {
      cwd: project,
      env: projectEnv({ HYBRID_LLM_BUILD_FROM_SOURCE: "1" }),
      timeout: 240_000,
    });
    expect(`${stdout}${stderr}`).toContain(`built ${addon}`);
    expect((await stat(addon)).mtimeMs).toBeGreaterThan(before);
    const native = await generate(process.execPath, ["generate.mjs", "node"]);
    expect(native.tokens).toHaveLength(8);
  });
});
