#!/usr/bin/env node
// @hybrid-llm/node's install step.
//
// * Installed from a tarball or the registry: the package ships a prebuilt addon (build/hybrid-llm.node, built for
//   the platform it was packed on, linux-x64 with glibc for the published one). When it loads here, nothing is
//   built. Otherwise (another platform or libc), or with HYBRID_LLM_BUILD_FROM_SOURCE=1, the addon is built from
//   the shipped sources (native/src) by the shipped native/build.mjs: it needs a C++17 compiler and git, nothing
//   is downloaded (llama.cpp's headers come from node-llama-cpp's bundle).
// * In the repository (a workspace of the hybrid-llm checkout): the repository's native/build.mjs, which rebuilds
//   when native/src changed.
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const log = (message) => process.stderr.write(`[@hybrid-llm/node install] ${message}\n`);

const build = (script, args) => process.exit(spawnSync(process.execPath, [script, ...args], { stdio: "inherit" }).status ?? 1);

const checkoutScript = join(here, "..", "..", "native", "build.mjs");
const inCheckout = existsSync(checkoutScript) && existsSync(join(here, "..", "..", "packages", "node")) && realpathSync(join(here, "..", "..", "packages", "node")) === realpathSync(here);
if (inCheckout) build(checkoutScript, []);

const addon = join(here, "build", "hybrid-llm.node");
const platform = `${process.platform}-${process.arch}`;
if (process.env.HYBRID_LLM_BUILD_FROM_SOURCE === "1") {
  log("HYBRID_LLM_BUILD_FROM_SOURCE=1: building the addon from source");
} else if (!existsSync(addon)) {
  log(`the package has no prebuilt addon: building it from source for ${platform}`);
} else {
  try {
    const binding = createRequire(import.meta.url)(addon);
    if (typeof binding.init !== "function") throw new Error("it does not export init()");
    log(`using the prebuilt addon (build/hybrid-llm.node), which loads on ${platform}`);
    process.exit(0);
  } catch (error) {
    log(`the prebuilt addon does not load on ${platform} (${String(error.message).split("\n")[0]}): building it from source`);
  }
}
build(join(here, "native", "build.mjs"), ["--force"]);
