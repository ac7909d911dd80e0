#!/usr/bin/env node
// Builds llama.cpp (from node-llama-cpp's gitRelease.bundle) and hybrid-llm's Node-API binding (native/src) to one
// standalone WebAssembly module speaking Node-API through emnapi: packages/wasm/build/hybrid-llm.wasm.
//
// Toolchain: emscripten on PATH. Debian's 3.1.6 (what CI installs) works with the standalone route below (see
// shared/WASM.md); a newer emsdk works too. When emcc is missing and this runs as root on Debian/Ubuntu, it installs
// Debian's `emscripten` package with apt-get (the project's only system dependency), announcing it first
// (HYBRID_LLM_NO_APT=1 skips it); otherwise it says how.
//
// Usage: node wasm/build.mjs [--force] [--fast] [--if-possible]   (--fast: -O1 link, quicker wasm-opt, slower module;
// --if-possible: report a failure but exit 0, as the npm install step does). One line per step with the time since
// the start; the tools' output (cmake, em++) is shown only when they fail.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(root, "packages", "wasm", "package.json"));
const force = process.argv.includes("--force");
const fast = process.argv.includes("--fast");
// From `npm install`: build when possible, but never fail the install of everything else over the Wasm module.
const ifPossible = process.argv.includes("--if-possible");
const output = join(root, "packages", "wasm", "build", "hybrid-llm.wasm");
const sourceDir = join(root, "native", "src");
const patchDir = join(root, "wasm", "patches");
const patches = existsSync(patchDir) ? readdirSync(patchDir).filter((f) => f.endsWith(".patch")).sort() : [];
const started = Date.now();
const log = (message) => process.stderr.write(`[hybrid-llm wasm +${((Date.now() - started) / 1000).toFixed(0)} s] ${message}\n`);

function packageDir(name) {
  for (const base of require.resolve.paths(name) ?? []) {
    if (existsSync(join(base, name, "package.json"))) return join(base, name);
  }
  throw new Error(`package ${name} is not installed`);
}

/**
 * Runs a tool. With `quiet`, its output is held back (the last lines are printed if it fails) and `onLine` sees
 * each line, for progress.
 */
function run(command, args, { quiet = false, onLine, ...options } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", quiet ? "pipe" : "inherit", quiet ? "pipe" : "inherit"], ...options });
    const tail = [];
    if (quiet) {
      let pending = "";
      const take = (chunk) => {
        const lines = (pending + chunk).split("\n");
        pending = lines.pop();
        for (const line of lines) {
          tail.push(line);
          if (tail.length > 200) tail.shift();
          onLine?.(line);
        }
      };
      child.stdout.setEncoding("utf8").on("data", take);
      child.stderr.setEncoding("utf8").on("data", take);
    }
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) return resolve();
      if (tail.length > 0) process.stderr.write(`${tail.join("\n")}\n`);
      reject(new Error(`${command} ${args[0] ?? ""} exited with ${code}`));
    });
  });
}

const has = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;

function ensureEmscripten() {
  if (has("emcc")) return;
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && has("apt-get") && process.env.HYBRID_LLM_NO_APT !== "1") {
    // Installing into the system from inside an npm install is a surprise unless said first, plainly.
    log("┌─ SYSTEM-WIDE INSTALL ──────────────────────────────────────────────────────────────────────");
    log("│ emcc (emscripten) is not on PATH and this runs as root, so the Wasm build now runs");
    log("│   apt-get update && apt-get install -y emscripten");
    log("│ Debian's package and what it pulls in (clang, lld, llvm, binaryen, nodejs): about 1 GB under /usr.");
    log("│ To skip it, set HYBRID_LLM_NO_APT=1: the Wasm backend is then not built; the native one is unaffected.");
    log("└────────────────────────────────────────────────────────────────────────────────────────────");
    execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    execFileSync("apt-get", ["install", "-y", "-qq", "emscripten"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (has("emcc")) {
      log("installed emscripten (system-wide, apt-get)");
      return;
    }
  }
  throw new Error("emscripten (emcc) is not on PATH: install it (Debian/Ubuntu: apt-get install emscripten; or emsdk) and rerun");
}

/** Full llama.cpp source tree of the pinned release, from node-llama-cpp's bundle. */
function llamaSource() {
  const llamaDir = join(packageDir("node-llama-cpp"), "llama");
  const { tag } = JSON.parse(readFileSync(join(llamaDir, "llama.cpp.info.json"), "utf8"));
  const checkout = join(root, "wasm", "build", `llama.cpp-${tag}`);
  if (!existsSync(join(checkout, "CMakeLists.txt"))) {
    log(`checking out llama.cpp ${tag} from node-llama-cpp's gitRelease.bundle`);
    mkdirSync(dirname(checkout), { recursive: true });
    execFileSync("git", ["-c", "advice.detachedHead=false", "clone", "--quiet", join(llamaDir, "gitRelease.bundle"), checkout], { stdio: "inherit" });
  }
  applyPatches(checkout);
  return { checkout, tag };
}

/** Our fixes to llama.cpp's Wasm paths (wasm/patches/*.patch, each saying why), applied once to the checkout. */
function applyPatches(checkout) {
  for (const name of patches) {
    const patch = join(patchDir, name);
    const git = (...args) => spawnSync("git", ["-C", checkout, "apply", ...args, patch], { stdio: "ignore" }).status === 0;
    if (git("--reverse", "--check")) continue; // applied already
    if (!git("--check")) throw new Error(`wasm/patches/${name} does not apply to ${checkout}: was llama.cpp updated? Rebase or drop the patch`);
    git();
    log(`applied wasm/patches/${name}`);
  }
}

async function main() {
  log("building llama.cpp and the binding to WebAssembly (emscripten) for the Wasm backend");
  const sources = readdirSync(sourceDir).filter((f) => /\.(cpp|h)$/.test(f)).map((f) => join(sourceDir, f));
  const inputs = [...sources, ...patches.map((name) => join(patchDir, name)), fileURLToPath(import.meta.url)];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  if (!force && existsSync(output) && statSync(output).mtimeMs > newest) {
    log(`up to date: ${output}`);
    return;
  }
  ensureEmscripten();
  const { checkout, tag } = llamaSource();
  const jobs = String(Math.max(1, cpus().length));
  const cmakeDir = join(root, "wasm", "build", `cmake-${tag}`);
  const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, "/usr/share/nodejs"].filter(Boolean).join(":") };
  const common = ["-fwasm-exceptions"];
  if (!existsSync(join(cmakeDir, "CMakeCache.txt"))) {
    log(`configuring llama.cpp ${tag} for wasm32`);
    await run(
      "emcmake",
      [
        "cmake", "-S", checkout, "-B", cmakeDir,
        "-DCMAKE_BUILD_TYPE=Release",
        "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=OFF", "-DGGML_OPENMP=OFF", "-DLLAMA_CURL=OFF",
        "-DLLAMA_BUILD_COMMON=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_BUILD_HTML=OFF", "-DLLAMA_WASM_MEM64=OFF",
        // wasm32 as the processor is what turns on ggml's WASM SIMD path (-msimd128).
        "-DEMSCRIPTEN_SYSTEM_PROCESSOR=wasm32",
        `-DCMAKE_C_FLAGS=${common.join(" ")}`, `-DCMAKE_CXX_FLAGS=${common.join(" ")}`,
      ],
      { env, quiet: true },
    );
  }
  log(`building llama.cpp ${tag} (static, wasm32) with ${jobs} jobs: a few minutes on 2 cores`);
  let reported = 0;
  await run("cmake", ["--build", cmakeDir, "--target", "llama", "-j", jobs], {
    env,
    quiet: true,
    // cmake prints "[ 42%] Building …": one line per tenth.
    onLine: (line) => {
      const percent = Number(/^\[\s*(\d+)%\]/.exec(line)?.[1] ?? NaN);
      if (percent >= reported + 10 && percent < 100) {
        reported = percent - (percent % 10);
        log(`building llama.cpp: ${percent}%`);
      }
    },
  });
  log("built llama.cpp");

  const emnapi = packageDir("emnapi");
  const flags = [
    // -msimd128: the sampler's loops (fast-pick.cpp) vectorize; llama.cpp's own build already needs Wasm SIMD.
    "-std=c++17", "-O3", "-msimd128", ...common,
    // emnapi runs async work and thread-safe functions on the one thread (setImmediate), so the binding keeps them.
    "-DHYBRID_LLM_STATIC_LLAMA", "-DNAPI_HAS_THREADS=1", "-DNAPI_VERSION=8", "-DNAPI_CPP_EXCEPTIONS", "-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL", "-DNODE_ADDON_API_DISABLE_DEPRECATED",
    `-I${join(emnapi, "include", "node")}`, `-I${packageDir("node-addon-api")}`,
    `-I${join(checkout, "include")}`, `-I${join(checkout, "ggml", "include")}`,
  ];
  const objectDir = join(root, "wasm", "build", "objects");
  mkdirSync(objectDir, { recursive: true });
  const cpp = sources.filter((f) => f.endsWith(".cpp"));
  log(`compiling the binding (${cpp.length} files)`);
  const objects = cpp.map((f) => join(objectDir, f.slice(sourceDir.length + 1).replace(/\.cpp$/, ".o")));
  await Promise.all(cpp.map((f, i) => run("em++", [...flags, "-c", f, "-o", objects[i]], { env, quiet: true })));

  const libraries = [
    join(cmakeDir, "src", "libllama.a"),
    join(cmakeDir, "ggml", "src", "libggml.a"),
    join(cmakeDir, "ggml", "src", "libggml-cpu.a"),
    join(cmakeDir, "ggml", "src", "libggml-base.a"),
    // By full path: with -L, emnapi's libdlmalloc would shadow emscripten's malloc.
    // "basic": async work and thread-safe functions come from emnapi's JavaScript side, which runs them on this one thread.
    join(emnapi, "lib", "wasm32", "libemnapi-basic.a"),
  ];
  for (const library of libraries) if (!existsSync(library)) throw new Error(`missing ${library}`);
  mkdirSync(dirname(output), { recursive: true });
  log(`linking ${fast ? "(-O1, --fast)" : "(-O3: wasm-opt takes a minute or two)"}`);
  await run(
    "em++",
    [
      fast ? "-O1" : "-O3", ...common,
      "-sSTANDALONE_WASM", "--no-entry", "-sERROR_ON_UNDEFINED_SYMBOLS=0",
      // wasm32 tops out at 4 GB; the module starts at 64 MB and grows as models and caches need.
      "-sALLOW_MEMORY_GROWTH=1", "-sMAXIMUM_MEMORY=4GB", "-sINITIAL_MEMORY=64MB",
      "-sEXPORTED_FUNCTIONS=_malloc,_free,_napi_register_wasm_v1,_node_api_module_get_api_version_v1",
      "-Wl,--export-table",
      ...objects, ...libraries,
      "-o", output,
    ],
    // Quiet: the link warns about every napi_* symbol, which emnapi's JavaScript side provides at instantiation.
    { env, quiet: true },
  );
  log(`built ${output} (${(statSync(output).size / 1e6).toFixed(2)} MB)`);
}

main().catch((error) => {
  log(`build failed: ${error.message}`);
  if (ifPossible) {
    log("the Wasm backend is unavailable until \"npm run build:wasm\" succeeds (the native backend is unaffected)");
    process.exit(0);
  }
  process.exit(1);
});
