import { readFile, readdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as core from "@hybrid-llm/core";
import { expect, test } from "vitest";

// The reference pages stay true to the code: every typed error is explained, every CLI flag and HTTP route is listed.

const root = fileURLToPath(new URL("..", import.meta.url));
const doc = (name: string) => readFile(`${root}docs/${name}`, "utf8");

test("docs/troubleshooting.md explains every error class @hybrid-llm/core exports", async () => {
  const page = await doc("troubleshooting.md");
  const errorClasses = Object.entries(core)
    .filter(([, value]) => typeof value === "function" && (value === core.HybridLlmError || value.prototype instanceof core.HybridLlmError))
    .map(([name]) => name);
  expect(errorClasses.length).toBeGreaterThanOrEqual(12);
  const headings = [...page.matchAll(/^### (\w+)$/gm)].map((match) => match[1]);
  for (const name of errorClasses) expect(headings, `docs/troubleshooting.md has no "### ${name}" section`).toContain(name);
  // Every BackendError code has its row.
  const backend = await readFile(`${root}packages/core/src/errors/backend-error.ts`, "utf8");
  const union = backend.slice(backend.indexOf("export type BackendErrorCode"));
  const codes = [...union.slice(0, union.indexOf(";")).matchAll(/\| "([a-z-]+)"/g)].map((match) => match[1]!);
  expect(codes.length).toBeGreaterThanOrEqual(9);
  for (const code of codes) expect(page, `BackendError code ${code}`).toContain(`| \`${code}\` |`);
});

test("docs/configuration.md lists every flag of every command, in that command's section", async () => {
  const page = await doc("configuration.md");
  const cli = `${root}packages/server/src/cli/`;
  const commands = (await readdir(cli)).filter((file) => file.endsWith("-command.ts")).map((file) => file.slice(0, -"-command.ts".length));
  expect(commands).toEqual(expect.arrayContaining(["serve", "plan", "generate", "chat", "bench", "demo", "pull", "fixture"]));
  for (const command of commands) {
    const source = await readFile(`${cli}${command}-command.ts`, "utf8");
    const call = source.slice(source.indexOf("parseArgs({"));
    const options = call.slice(0, call.indexOf("});"));
    // Each option, as parseArgs declares it: a boolean defaulting to true is given as --no-<name>.
    const flags = [...options.matchAll(/"?([a-z][a-z0-9-]*)"?: \{ type: "(string|boolean)"([^}]*)\}/g)]
      .filter(([, name]) => name !== "help")
      .map(([, name, type, rest]) => (type === "boolean" && /default: true/.test(rest!) ? `--no-${name}` : `--${name}`));
    expect(flags.length, `${command}: no options found`).toBeGreaterThan(0);
    const start = page.indexOf(`## \`hybrid-llm ${command}\``);
    expect(start, `docs/configuration.md has no "## \`hybrid-llm ${command}\`" section`).toBeGreaterThanOrEqual(0);
    const section = page.slice(start, page.indexOf("\n## ", start + 1));
    for (const flag of flags) expect(section, `hybrid-llm ${command} ${flag}`).toMatch(new RegExp(`\\| \`${flag}[\` ]`));
  }
});

test("docs/http-api.md covers every route the server registers", async () => {
  const page = await doc("http-api.md");
  const http = `${root}packages/server/src/http/`;
  const routes: string[] = [];
  for (const file of (await readdir(http)).filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))) {
    const source = await readFile(`${http}${file}`, "utf8");
    for (const [, method, path] of source.matchAll(/app\.(get|post|put|delete|patch)\("([^"]+)"/g)) routes.push(`${method!.toUpperCase()} ${path!.replace(/:(\w+)/g, "{$1}")}`);
  }
  expect(routes).toEqual(expect.arrayContaining(["POST /v1/chat/completions", "POST /v1/completions", "GET /v1/models", "GET /health"]));
  for (const route of routes) {
    const [method, path] = route.split(" ");
    // Listed in a heading as `METHOD /path` (several routes may share one heading).
    expect(page, route).toMatch(new RegExp(`^## .*\`${method} ${path!.replace(/[{}]/g, "\\$&")}\``, "m"));
  }
});

test("docs/memory-planning.md's presets table is every preset, with the figures the planner gives", async () => {
  const page = await doc("memory-planning.md");
  const presets = core.modelPresets();
  expect(presets.length).toBeGreaterThan(10);
  for (const preset of presets) {
    const plan = core.planMemory(preset.spec, { ctx: 131072, slots: 8 });
    const bytes = core.formatBytes;
    const prefix = plan.perStreamAttentionKvBytes === null ? "—" : bytes(plan.perStreamAttentionKvBytes + plan.recurrentStateBytes);
    const row = `| \`${preset.id}\` | ${preset.name} | \`${preset.architecture}\` | ${plan.attentionLayerCount} | ${plan.recurrentLayerCount} | ${bytes(plan.attentionBytesPerCell)} | ${bytes(plan.recurrentBytesPerSequence)} | ${bytes(plan.attentionKvBytes + plan.recurrentStateBytes)} | ${prefix} |`;
    expect(page).toContain(row);
  }
  // The worked example's figures.
  const nano = core.planMemory(core.modelPreset("nemotron3-nano-30b-a3b")!.spec, { ctx: 1_048_576, slots: 8 });
  for (const figure of [nano.attentionKvBytes, nano.perStreamAttentionKvBytes!, nano.recurrentBytesPerSequence, nano.attentionKvBytes + nano.recurrentStateBytes]) {
    expect(page).toContain(figure.toLocaleString("en"));
  }
});
