#!/usr/bin/env node
// Packs the four workspace packages (npm pack) and installs the tarballs into a fresh project, offline, the way a
// package user's `npm install @hybrid-llm/server` would lay them out; prints the install time and size.
//
// Offline: the project gets a package-lock.json made from this repository's (the same registry packages, versions
// and integrity hashes the repository is tested with, the workspace links replaced by the tarballs), so `npm ci
// --offline` takes every registry tarball from the npm cache that the repository's own `npm ci` filled. Nothing is
// fetched. With --cpu-only the project leaves out node-llama-cpp's optional CUDA / Vulkan packages (about 620 MB
// on linux-x64), as test/pack-install.test.ts does to stay quick; a real install from the registry brings them.
//
// Usage: node scripts/pack-install.mjs [--dir <empty folder>] [--cpu-only]
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

/** The workspace packages, in dependency order. */
export const workspaces = ["core", "node", "wasm", "server"];

/** node-llama-cpp's GPU builds: left out with `cpuOnly`. */
const gpuPackage = /^node_modules\/@node-llama-cpp\/[^/]*-(cuda|cuda-ext|vulkan)$/;

/**
 * The environment for the npm runs in the fresh project: this process's, less what an enclosing `npm test` set for
 * the repository (its package, lifecycle and local prefix), so nothing there points back at the repository.
 */
export function projectEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_(package_|lifecycle_|config_local_prefix$)/.test(key) && key !== "INIT_CWD"));
  return { ...env, ...extra };
}

/** `npm pack`s every workspace into `destination`; returns { name → tarball path }. */
export async function packWorkspaces(destination) {
  await mkdir(destination, { recursive: true });
  const { stdout } = await run(npm, ["pack", "--workspaces", "--json", "--pack-destination", destination], { cwd: root, maxBuffer: 64 << 20 });
  const packed = JSON.parse(stdout);
  return Object.fromEntries(packed.map((entry) => [entry.name, join(destination, entry.filename)]));
}

/**
 * A package-lock.json for a project depending on the tarballs: the workspace packages' registry dependencies,
 * transitively, as this repository's lock has them (where Node would find each from its dependent), paths of a
 * workspace's nested dependencies moved under the package's folder.
 */
export async function lockfileFor(project, tarballs, { cpuOnly = false } = {}) {
  const repoLock = JSON.parse(await readFile(join(root, "package-lock.json"), "utf8"));
  const entries = repoLock.packages;
  const workspaceDir = (name) => `packages/${name.replace("@hybrid-llm/", "")}`;
  const packages = {};
  const rootDependencies = Object.fromEntries(Object.entries(tarballs).map(([name, file]) => [name, `file:${relative(project, file)}`]));
  packages[""] = { name: "pack-install-check", version: "0.0.0", dependencies: rootDependencies };

  /** The lock path a package at `from` gets `name` from: its own node_modules, then each enclosing one. */
  const resolveFrom = (from, name) => {
    for (let base = from; ; ) {
      const candidate = `${base === "" ? "" : `${base}/`}node_modules/${name}`;
      if (entries[candidate] !== undefined) return candidate;
      if (base === "") return undefined;
      const cut = base.lastIndexOf("/node_modules/");
      base = cut >= 0 ? base.slice(0, cut) : "";
    }
  };
  const moved = (path) => {
    const match = /^packages\/(\w+)\/(node_modules\/.*)$/.exec(path);
    return match ? `node_modules/@hybrid-llm/${match[1]}/${match[2]}` : path;
  };

  const queue = [];
  for (const name of Object.keys(tarballs)) {
    const source = entries[workspaceDir(name)];
    const { name: _, devDependencies, ...kept } = source; // version, dependencies, bin, hasInstallScript, ...
    packages[`node_modules/${name}`] = { ...kept, resolved: rootDependencies[name] };
    queue.push([workspaceDir(name), source]);
  }
  while (queue.length > 0) {
    const [from, entry] = queue.shift();
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !entry.peerDependenciesMeta?.[name]?.optional),
    ];
    for (const name of wanted) {
      if (name.startsWith("@hybrid-llm/")) continue;
      const path = resolveFrom(from, name);
      if (path === undefined) continue; // an optional dependency for another platform, absent from the lock
      const target = moved(path);
      if (packages[target] !== undefined || (cpuOnly && gpuPackage.test(target))) continue;
      const { dev, devOptional, peer, ...kept } = entries[path];
      if (cpuOnly && kept.optionalDependencies) {
        kept.optionalDependencies = Object.fromEntries(Object.entries(kept.optionalDependencies).filter(([name]) => !gpuPackage.test(`node_modules/${name}`)));
      }
      packages[target] = kept;
      queue.push([path, entries[path]]);
    }
  }
  return { name: "pack-install-check", version: "0.0.0", lockfileVersion: 3, requires: true, packages };
}

async function folderBytes(folder) {
  let total = 0;
  for (const entry of await readdir(folder, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath ?? entry.path, entry.name))).size;
  }
  return total;
}

/**
 * Packs, writes the project (package.json, package-lock.json) into `project` and runs `npm ci --offline` there.
 * Returns { installMs, installedBytes, log, tarballs }.
 */
export async function packAndInstall(project, { cpuOnly = false, env = projectEnv() } = {}) {
  await mkdir(project, { recursive: true });
  const tarballs = await packWorkspaces(join(project, "tarballs"));
  const lock = await lockfileFor(project, tarballs, { cpuOnly });
  await writeFile(join(project, "package.json"), `${JSON.stringify({ name: lock.name, version: lock.version, private: true, type: "module", dependencies: lock.packages[""].dependencies }, null, 2)}\n`);
  await writeFile(join(project, "package-lock.json"), `${JSON.stringify(lock, null, 2)}\n`);
  const started = performance.now();
  const { stdout, stderr } = await run(npm, ["ci", "--offline", "--no-audit", "--no-fund", "--foreground-scripts"], {
    cwd: project,
    env,
    maxBuffer: 64 << 20,
  });
  const installMs = performance.now() - started;
  return { installMs, installedBytes: await folderBytes(join(project, "node_modules")), log: `${stdout}${stderr}`, tarballs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf("--dir");
  const project = at >= 0 ? process.argv[at + 1] : await mkdtemp(join(tmpdir(), "hybrid-llm-pack-"));
  const result = await packAndInstall(project, { cpuOnly: process.argv.includes("--cpu-only") });
  process.stderr.write(result.log);
  for (const [name, file] of Object.entries(result.tarballs)) console.log(`${name}: ${file} (${((await stat(file)).size / 1e6).toFixed(2)} MB)`);
  console.log(`installed into ${project} in ${(result.installMs / 1000).toFixed(1)} s: node_modules ${(result.installedBytes / 2 ** 20).toFixed(0)} MiB`);
}
