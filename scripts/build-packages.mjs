#!/usr/bin/env node
// Builds the workspace packages' dist/ (tsup: JavaScript; tsc -b: declarations), one line per step with its time.
//
// `npm run build` runs it; so does `npm ci` (the root `prepare` script, which npm runs after every workspace's
// install script, i.e. after the native addon and the Wasm module are built) with --after-install, which also says
// what the install left runnable. A step's own output is shown only when it fails.
//
// Usage: node scripts/build-packages.mjs [--after-install]
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const afterInstall = process.argv.includes("--after-install");
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
const log = (message) => process.stderr.write(`[hybrid-llm build] ${message}\n`);

/** Runs a tool from node_modules/.bin with its output held back; on failure prints it and exits. */
function step(description, tool, args) {
  return new Promise((resolve) => {
    const stepStarted = Date.now();
    log(`${description}…`);
    const child = spawn(join(root, "node_modules", ".bin", tool), args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    const output = [];
    child.stdout.on("data", (chunk) => output.push(chunk));
    child.stderr.on("data", (chunk) => output.push(chunk));
    const fail = (reason) => {
      process.stderr.write(Buffer.concat(output));
      log(`${description} failed (${reason}) after ${elapsed()}`);
      process.exit(1);
    };
    child.on("error", (error) => fail(error.message));
    child.on("exit", (code) => {
      if (code !== 0) return fail(`${tool} exited with ${code}`);
      log(`${description}: done in ${((Date.now() - stepStarted) / 1000).toFixed(1)} s`);
      resolve();
    });
  });
}

await step("JavaScript of core, node, wasm, server into packages/*/dist (tsup)", "tsup", []);
await step("type declarations into packages/*/dist (tsc -b)", "tsc", ["-b"]);
log(`packages built in ${elapsed()}`);

if (afterInstall) {
  const addon = existsSync(join(root, "packages", "node", "build", "hybrid-llm.node"));
  const wasm = existsSync(join(root, "packages", "wasm", "build", "hybrid-llm.wasm"));
  log(`native backend: ${addon ? "packages/node/build/hybrid-llm.node" : "NOT BUILT (see the install log above; node native/build.mjs retries)"}`);
  log(`Wasm backend:   ${wasm ? "packages/wasm/build/hybrid-llm.wasm" : "NOT BUILT (see the install log above; npm run build:wasm retries)"}`);
  if (addon) {
    log("ready: npm start · npx hybrid-llm --help · node examples/node-engine.mjs · node examples/chat-turns.mjs");
  }
  if (wasm) log("ready: npx deno run --allow-read --allow-write --allow-env examples/deno-generate.ts");
  log("npm test builds again and runs every suite");
}
