// Builds llama.cpp's RPC backend (libggml-rpc, a dynamically loaded ggml backend) and its rpc-server from the
// pinned release's sources, against the prebuilt libggml-base / libggml of node-llama-cpp's CPU package. Outputs go
// beside the addon (packages/node/build/): NodeBackend's `rpcServers` loads libggml-rpc.so with ggml_backend_load,
// `hybrid-llm rpc-server` starts rpc-server. Native only: the Wasm build has no sockets and never runs this.
//
// ggml-rpc.cpp is patched (rpc/ggml-rpc-no-abort.patch): upstream GGML_ABORTs the client process when a connection
// is refused or lost; the patched dispatcher drops the messages of a dead connection instead and counts them
// (hybrid_llm_rpc_failures), and the binding turns a count that moved into a typed error. The same patch turns on
// TCP keepalive and a send timeout in transport.cpp, so a worker host that vanishes silently fails too. See docs/rpc.md.
//
// Usage: node native/build-rpc.mjs [--force]   (native/build.mjs runs it after the addon)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const started = Date.now();
const log = (message) => process.stderr.write(`[hybrid-llm rpc +${((Date.now() - started) / 1000).toFixed(1)} s] ${message}\n`);

/** Files of the release this build needs beyond the headers the addon's build checks out. */
const rpcSources = ["ggml/src/ggml-rpc", "tools/rpc/rpc-server.cpp"];

function run(command, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
}

/** The bins folder of node-llama-cpp's CPU package for this platform (its libggml-base is what we link against). */
function prebuiltBins(packageDir) {
  const platform = `${process.platform}-${process.arch}`;
  const name = { "linux-x64": "linux-x64", "linux-arm64": "linux-arm64", "darwin-arm64": "mac-arm64-metal", "darwin-x64": "mac-x64" }[platform];
  if (name === undefined) return undefined;
  let dir;
  try {
    dir = join(packageDir(`@node-llama-cpp/${name}`), "bins", name);
  } catch {
    return undefined;
  }
  return existsSync(dir) ? dir : undefined;
}

/**
 * Builds libggml-rpc.so and rpc-server into `outputDir`. Returns quietly (with a message) when it cannot: no
 * prebuilt libggml-base for this platform, or no compiler — the rest of the SDK works without RPC.
 */
export async function buildRpc({ checkout, outputDir, packageDir, force = false }) {
  if (process.platform === "win32") {
    log("skipped: the RPC backend build supports Linux and macOS only");
    return;
  }
  const bins = prebuiltBins(packageDir);
  if (bins === undefined) {
    log(`skipped: no node-llama-cpp prebuilt package for ${process.platform}-${process.arch} to link the RPC backend against`);
    return;
  }
  const library = join(outputDir, "libggml-rpc.so");
  const server = join(outputDir, "rpc-server");
  const patch = join(here, "rpc", "ggml-rpc-no-abort.patch");
  const inputs = [patch, fileURLToPath(import.meta.url)].map((file) => statSync(file).mtimeMs);
  if (!force && existsSync(library) && existsSync(server) && Math.min(statSync(library).mtimeMs, statSync(server).mtimeMs) > Math.max(...inputs)) {
    log(`up to date: ${library}, ${server}`);
    return;
  }
  // Fresh sources every time (the patch applies to the release's own file), then the patch.
  const srcHeaders = execFileSync("git", ["-C", checkout, "ls-tree", "--name-only", "HEAD", "ggml/src/"], { encoding: "utf8" })
    .split("\n")
    .filter((file) => file.endsWith(".h"));
  execFileSync("git", ["-C", checkout, "checkout", "--quiet", "HEAD", "--", ...rpcSources, ...srcHeaders], { stdio: "inherit" });
  execFileSync("git", ["-C", checkout, "apply", "--whitespace=nowarn", patch], { stdio: "inherit" });

  const cxx = process.env.CXX || "g++";
  const base = readdirSync(bins).find((file) => /^libggml-base\.(so|dylib)$/.test(file));
  const ggml = readdirSync(bins).find((file) => /^libggml(\.v[\d.]+)?\.(so|dylib)$/.test(file));
  if (base === undefined || ggml === undefined) {
    log(`skipped: ${bins} lacks libggml-base / libggml`);
    return;
  }
  const includes = [`-I${join(checkout, "ggml", "include")}`, `-I${join(checkout, "ggml", "src")}`];
  const common = ["-std=c++17", "-O2", "-fPIC", "-pthread", "-DNDEBUG", ...includes];
  mkdirSync(outputDir, { recursive: true });
  log(`compiling libggml-rpc and rpc-server with ${cxx} against ${bins}`);
  const rpcDir = join(checkout, "ggml", "src", "ggml-rpc");
  await Promise.all([
    run(cxx, [
      ...common,
      "-shared",
      // A loadable backend: GGML_BACKEND_DL_IMPL exports ggml_backend_init; symbols come from the loaded libggml-base.
      "-DGGML_BACKEND_DL",
      "-DGGML_BACKEND_BUILD",
      "-DGGML_BACKEND_SHARED",
      "-DGGML_SHARED",
      join(rpcDir, "ggml-rpc.cpp"),
      join(rpcDir, "transport.cpp"),
      "-o",
      library,
      join(bins, base),
    ]),
    run(cxx, [...common, join(checkout, "tools", "rpc", "rpc-server.cpp"), "-o", server, join(bins, ggml), join(bins, base)]),
  ]);
  log(`built ${library} and ${server}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { llamaSourceDir, packageDir } = await import("./build.mjs");
  const { checkout } = llamaSourceDir();
  const outputDir = join(here, "..", "packages", "node", "build");
  buildRpc({ checkout, outputDir, packageDir, force: process.argv.includes("--force") }).catch((error) => {
    log(`RPC backend build failed: ${error.message} (everything but rpcServers works without it)`);
    process.exit(1);
  });
}
