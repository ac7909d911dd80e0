#!/usr/bin/env node
// @hybrid-llm/wasm's install step. The Wasm module is the same on every platform, so the package ships it
// (build/hybrid-llm.wasm) and an install from a tarball or the registry builds nothing. In the repository (a
// workspace of the hybrid-llm checkout) it runs wasm/build.mjs, which builds or updates the module when it can
// and never fails the install over it.
import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const checkoutScript = join(here, "..", "..", "wasm", "build.mjs");
const inCheckout = existsSync(checkoutScript) && existsSync(join(here, "..", "..", "packages", "wasm")) && realpathSync(join(here, "..", "..", "packages", "wasm")) === realpathSync(here);
if (inCheckout) {
  process.exit(spawnSync(process.execPath, [checkoutScript, "--if-possible"], { stdio: "inherit" }).status ?? 1);
}
if (existsSync(join(here, "build", "hybrid-llm.wasm"))) {
  process.stderr.write("[@hybrid-llm/wasm install] using the shipped Wasm module (build/hybrid-llm.wasm)\n");
} else {
  process.stderr.write("[@hybrid-llm/wasm install] this package has no Wasm module (build/hybrid-llm.wasm): WasmBackend.create() will fail; build it in the hybrid-llm repository (npm run build:wasm)\n");
}
