#!/usr/bin/env node
// Builds the Node-API addon (native/src) into packages/node/build/hybrid-llm.node with the machine's C++ compiler.
//
// It runs from two places: this repository (native/build.mjs, the addon goes to packages/node/build/), and the
// installed @hybrid-llm/node package, which ships a copy of this script with the sources as native/ (packed by its
// prepack step) and builds into its own build/ when its prebuilt addon does not load on the machine (install.mjs).
//
// No download, no node-gyp: llama.cpp's headers come from node-llama-cpp's gitRelease.bundle (the exact release its
// prebuilt libraries were built from), Node-API's from the node-api-headers and node-addon-api packages. The addon
// does not link llama.cpp: it dlopen()s the library chosen at run time (CPU / CUDA / Vulkan / Metal build).
//
// Usage: node native/build.mjs [--force] [--debug]
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** native/ in the repository; <@hybrid-llm/node>/native in the installed package. */
const here = dirname(fileURLToPath(import.meta.url));
const repositoryPackage = join(here, "..", "packages", "node");
/** The @hybrid-llm/node package folder: the addon goes to its build/, its dependencies give the headers. */
const nodePackage = existsSync(join(repositoryPackage, "package.json")) ? repositoryPackage : dirname(here);
const require = createRequire(join(nodePackage, "package.json"));
const force = process.argv.includes("--force");
const debug = process.argv.includes("--debug");
const output = join(nodePackage, "build", "hybrid-llm.node");
const sourceDir = join(here, "src");
const objectDir = join(here, "build", debug ? "debug" : "release");

/** Folder of an installed package, found the way Node would (works for packages whose exports hide package.json). */
export function packageDir(name) {
  for (const base of require.resolve.paths(name) ?? []) {
    if (existsSync(join(base, name, "package.json"))) return join(base, name);
  }
  throw new Error(`package ${name} is not installed`);
}

const started = Date.now();
/** One line per step, with the time since the build started. */
const log = (message) => process.stderr.write(`[hybrid-llm native +${((Date.now() - started) / 1000).toFixed(1)} s] ${message}\n`);

/** llama.cpp headers (include/, ggml/include/) checked out from node-llama-cpp's source bundle. */
export function llamaSourceDir() {
  const llamaDir = join(packageDir("node-llama-cpp"), "llama");
  const { tag } = JSON.parse(readFileSync(join(llamaDir, "llama.cpp.info.json"), "utf8"));
  const checkout = join(here, "build", `llama.cpp-${tag}`);
  if (!existsSync(join(checkout, "include", "llama.h"))) {
    log(`extracting llama.cpp ${tag} headers from node-llama-cpp's gitRelease.bundle`);
    mkdirSync(dirname(checkout), { recursive: true });
    execFileSync("git", ["clone", "--quiet", "--no-checkout", join(llamaDir, "gitRelease.bundle"), checkout], { stdio: "inherit" });
    execFileSync("git", ["-C", checkout, "-c", "advice.detachedHead=false", "checkout", "--quiet", "HEAD", "--", "include", "ggml/include"], { stdio: "inherit" });
  }
  return { checkout, tag };
}

function newestInput(files) {
  return Math.max(...files.map((file) => statSync(file).mtimeMs), statSync(fileURLToPath(import.meta.url)).mtimeMs);
}

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

async function main() {
  await buildAddon();
  // llama.cpp's RPC backend (rpcServers, hybrid-llm rpc-server): optional, its failure never fails the addon's build.
  const { buildRpc } = await import("./build-rpc.mjs").catch(() => ({ buildRpc: undefined }));
  if (buildRpc === undefined) return; // an installed package without the RPC sources
  await buildRpc({ checkout: llamaSourceDir().checkout, outputDir: dirname(output), packageDir, force }).catch((error) => {
    log(`RPC backend not built: ${error.message} (everything but rpcServers works without it)`);
  });
}

async function buildAddon() {
  log("building the Node-API addon (native/src) for the native backend");
  const sources = readdirSync(sourceDir).filter((f) => f.endsWith(".cpp")).map((f) => join(sourceDir, f));
  const headers = readdirSync(sourceDir).filter((f) => f.endsWith(".h")).map((f) => join(sourceDir, f));
  if (!force && existsSync(output) && statSync(output).mtimeMs > newestInput([...sources, ...headers])) {
    log(`up to date: ${output}`);
    return;
  }
  const { checkout, tag } = llamaSourceDir();
  const nodeApiInclude = join(packageDir("node-api-headers"), "include");
  const addonApiInclude = packageDir("node-addon-api");
  const cxx = process.env.CXX || "g++";
  const flags = [
    "-std=c++17",
    debug ? "-O0" : "-O2",
    "-g",
    "-fPIC",
    "-fvisibility=hidden",
    "-Wall",
    "-Wno-unused-function",
    "-DNAPI_VERSION=8",
    "-DNAPI_CPP_EXCEPTIONS",
    // Any C++ exception (std::bad_alloc, …) escaping a method becomes a JavaScript Error instead of terminating.
    "-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL",
    "-DNODE_ADDON_API_DISABLE_DEPRECATED",
    `-I${nodeApiInclude}`,
    `-I${addonApiInclude}`,
    `-I${join(checkout, "include")}`,
    `-I${join(checkout, "ggml", "include")}`,
  ];
  mkdirSync(objectDir, { recursive: true });
  mkdirSync(dirname(output), { recursive: true });
  log(`compiling ${sources.length} files with ${cxx} against llama.cpp ${tag}`);
  const objects = sources.map((source) => join(objectDir, source.slice(sourceDir.length + 1).replace(/\.cpp$/, ".o")));
  const queue = sources.map((source, i) => () => run(cxx, [...flags, "-c", source, "-o", objects[i]]));
  const workers = Array.from({ length: Math.max(1, Math.min(cpus().length, queue.length)) }, async () => {
    for (let job = queue.shift(); job !== undefined; job = queue.shift()) await job();
  });
  await Promise.all(workers);
  const linkFlags = process.platform === "darwin" ? ["-undefined", "dynamic_lookup"] : ["-ldl", "-pthread"];
  log("linking");
  await run(cxx, ["-shared", "-o", output, ...objects, ...linkFlags]);
  log(`built ${output}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    log(`build failed: ${error.message}`);
    log("the addon needs a C++17 compiler (g++ or clang++; set CXX to choose) and git; see native/README.md");
    process.exit(1);
  });
}
