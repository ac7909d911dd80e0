import { defineConfig, type Options } from "tsup";

/**
 * One build for every workspace package. Each package lists its entry points here; everything else
 * (ESM only, declarations, Node 20 target, workspace packages kept external) is shared.
 */
const shared: Options = {
  format: ["esm"],
  target: "node20",
  platform: "neutral",
  dts: false, // declarations come from `tsc -b` (project references), run after tsup by `npm run build`
  sourcemap: true,
  clean: true,
  splitting: false,
  treeshake: true,
  external: [/^@hybrid-llm\//, /^node:/],
};

function workspacePackage(dir: string, entry: Record<string, string>, extra: Options = {}): Options {
  return {
    ...shared,
    ...extra,
    name: dir,
    entry: Object.fromEntries(Object.entries(entry).map(([name, file]) => [name, `packages/${dir}/${file}`])),
    outDir: `packages/${dir}/dist`,
    tsconfig: `packages/${dir}/tsconfig.json`,
  };
}

export default defineConfig([
  workspacePackage("core", { index: "src/index.ts", node: "src/node.ts", testing: "src/testing/index.ts" }),
  workspacePackage("node", { index: "src/index.ts" }, { platform: "node" }),
  workspacePackage("wasm", { index: "src/index.ts", worker: "src/worker.ts" }, { platform: "node" }),
  workspacePackage("server", { index: "src/index.ts", cli: "src/cli.ts", "bench-peer": "src/cli/bench-peer.ts" }, { platform: "node", external: [/^@hybrid-llm\//, /^node:/, "node-llama-cpp"] }),
]);
