#!/usr/bin/env node
// @hybrid-llm/node's prepack / postpack step: copies the binding's sources (native/src) and its build script
// (native/build.mjs, build-rpc.mjs and its patch) into packages/node/native/, so that the tarball can build the addon from source on a platform
// its prebuilt addon does not load on (packages/node/install.mjs); after packing, removes the copy again.
//
// Usage: node scripts/pack-native-sources.mjs copy|clean
import { cpSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const copy = join(root, "packages", "node", "native");
rmSync(copy, { recursive: true, force: true });
if (process.argv[2] === "copy") {
  cpSync(join(root, "native", "src"), join(copy, "src"), { recursive: true });
  cpSync(join(root, "native", "build.mjs"), join(copy, "build.mjs"));
  // llama.cpp's RPC backend, rebuilt beside the addon when the addon is (build.mjs imports build-rpc.mjs).
  cpSync(join(root, "native", "build-rpc.mjs"), join(copy, "build-rpc.mjs"));
  cpSync(join(root, "native", "rpc"), join(copy, "rpc"), { recursive: true });
} else if (process.argv[2] !== "clean") {
  process.stderr.write("usage: node scripts/pack-native-sources.mjs copy|clean\n");
  process.exit(2);
}
