#!/usr/bin/env node
// Builds llama.cpp (from node-llama-cpp's gitRelease.bundle) and hybrid-llm's Node-API binding (native/src) to one
// WebAssembly speaking Node-API through emnapi, twice:
// * single-threaded (st): one standalone module, packages/wasm/build/hybrid-llm.wasm, loaded without any emscripten
//   JavaScript; runs wherever WebAssembly does.
// * multi-threaded (mt): the same sources with -pthread (shared memory, atomics), so llama.cpp's CPU thread pool runs
//   on emscripten pthreads (worker threads): packages/wasm/build/hybrid-llm-mt.{js,wasm,worker.js}. STANDALONE_WASM
//   does not support pthreads in emscripten 3.1.6, so this one keeps emscripten's JavaScript glue (which spawns and
//   pools the threads); emnapi's functions reach it through a generated JS library (napi-imports.js).
//
// Toolchain: emscripten on PATH. Debian's 3.1.6 (what CI installs) works with the standalone route below (see
// shared/WASM.md); a newer emsdk works too. When emcc is missing and this runs as root on Debian/Ubuntu, it installs
// Debian's `emscripten` package with apt-get (the project's only system dependency), announcing it first
// (HYBRID_LLM_NO_APT=1 skips it); otherwise it says how.
//
// Usage: node wasm/build.mjs [--force] [--fast] [--if-possible] [--st-only]   (--fast: -O1 link, quicker wasm-opt, slower
// module; --if-possible: report a failure but exit 0, as the npm install step does; --st-only: skip the mt module). One line per step with the time since
// the start; the tools' output (cmake, em++) is shown only when they fail.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { applyPatchSeries, appliedSeries, patchNames, patchSeries } from "./patch-series.mjs";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(join(root, "packages", "wasm", "package.json"));
const force = process.argv.includes("--force");
const fast = process.argv.includes("--fast");
// From `npm install`: build when possible, but never fail the install of everything else over the Wasm module.
const ifPossible = process.argv.includes("--if-possible");
// HYBRID_LLM_WASM_PROFILE=1: the single-threaded module again, linked with its function names (--profiling-funcs) into
// wasm/build/profile/ (the shipped module is untouched), for `node --cpu-prof` (scripts/profile-wasm.mjs reads it).
const profile = process.env.HYBRID_LLM_WASM_PROFILE === "1";
const stOnly = process.argv.includes("--st-only") || profile;
const shippedDir = join(root, "packages", "wasm", "build");
const profileDir = join(root, "wasm", "build", "profile");
const outputDir = profile ? profileDir : shippedDir;
const sourceDir = join(root, "native", "src");
const patchDir = join(root, "wasm", "patches");
const patches = patchNames(patchDir);
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

/** The pinned llama.cpp release and where its checkout lives. */
function llamaCheckout() {
  const llamaDir = join(packageDir("node-llama-cpp"), "llama");
  const { tag } = JSON.parse(readFileSync(join(llamaDir, "llama.cpp.info.json"), "utf8"));
  return { llamaDir, tag, checkout: join(root, "wasm", "build", `llama.cpp-${tag}`) };
}

/** Full llama.cpp source tree of the pinned release, from node-llama-cpp's bundle, with wasm/patches applied. */
function llamaSource() {
  const { llamaDir, tag, checkout } = llamaCheckout();
  if (!existsSync(join(checkout, "CMakeLists.txt"))) {
    log(`checking out llama.cpp ${tag} from node-llama-cpp's gitRelease.bundle`);
    mkdirSync(dirname(checkout), { recursive: true });
    execFileSync("git", ["-c", "advice.detachedHead=false", "clone", "--quiet", join(llamaDir, "gitRelease.bundle"), checkout], { stdio: "inherit" });
  }
  // Our fixes to llama.cpp's Wasm paths (wasm/patches/*.patch, each saying why): see wasm/patch-series.mjs.
  applyPatchSeries(checkout, patchDir, log);
  return { checkout, tag };
}

/**
 * The two modules. `flags` go to every compile and link of the variant; `outputs` are the files it produces (the first
 * decides whether it is up to date).
 */
const VARIANTS = [
  {
    name: "st",
    // Wasm exception handling: llama.cpp's and the binding's C++ errors come back typed (WASM.md).
    flags: ["-fwasm-exceptions"],
    outputs: ["hybrid-llm.wasm"],
    // "basic": async work and thread-safe functions come from emnapi's JavaScript side, which runs them on the one thread.
    emnapiLibrary: "libemnapi-basic.a",
  },
  {
    name: "mt",
    // -fexceptions (emscripten's JavaScript-based exception handling), not -fwasm-exceptions: with -pthread,
    // emscripten 3.1.6's Wasm exception handling throws fine but no typed catch matches (only catch (...)): a
    // refused GGUF then killed the Node process and a Napi::Error became a "crashed" backend. Checked on a
    // ten-line program: -pthread -fwasm-exceptions catches nothing by type, -pthread -fexceptions does.
    // test/quantized-node-wasm.test.ts holds the typed errors on 2 threads.
    flags: ["-pthread", "-fexceptions"],
    outputs: ["hybrid-llm-mt.js", "hybrid-llm-mt.wasm", "hybrid-llm-mt.worker.js"],
    // The same, compiled with atomics so it links into a shared-memory module; Node-API calls still run on one thread.
    emnapiLibrary: "libemnapi-basic-mt.a",
  },
];

/** Link flags of each variant beyond the common ones. */
function linkFlags(variant, jsLibrary) {
  const exported = "-sEXPORTED_FUNCTIONS=_malloc,_free,_napi_register_wasm_v1,_node_api_module_get_api_version_v1";
  if (variant.name === "st") {
    return ["-sSTANDALONE_WASM", "--no-entry", "-sERROR_ON_UNDEFINED_SYMBOLS=0", exported, "-Wl,--export-table"];
  }
  return [
    "--no-entry", exported,
    // A factory (createHybridLlmMt(Module)) loaded with require(); packages/wasm/src/instantiate-mt.ts calls it.
    "-sMODULARIZE=1", "-sEXPORT_NAME=createHybridLlmMt", "-sENVIRONMENT=node,worker",
    // Blocking calls (a decode) cannot wait for a worker to start: the pool is made before the module runs, sized by
    // the caller (threads - 1: llama.cpp's compute uses the calling thread too).
    "-sPTHREAD_POOL_SIZE=Module.pthreadPoolSize",
    // i64 arguments as BigInt, as emnapi expects (and as the standalone module passes them).
    "-sWASM_BIGINT=1",
    // The module lives in our worker: emscripten must not take over process-wide handlers or exit codes.
    "-sNODEJS_CATCH_EXIT=0", "-sNODEJS_CATCH_REJECTION=0",
    "--js-library", jsLibrary,
  ];
}

/**
 * emnapi's imports (napi_*, emnapi_*), as an emscripten JS library: each forwards to the function emnapi's
 * createNapiModule() made for this instance (Module.hybridLlmNapi). Worker threads never call them; they only need
 * the imports to exist.
 */
function writeNapiLibrary(file) {
  const { createNapiModule } = require("@emnapi/core");
  const { getDefaultContext } = require("@emnapi/runtime");
  const { imports } = createNapiModule({ context: getDefaultContext(), asyncWorkPoolSize: 0 });
  // With them, the binding's own host imports (native/src/host-imports.h: the model's bytes read in chunks from
  // outside linear memory, a decode's input arrays copied in), supplied by packages/wasm/src/byte-sources.ts the same
  // way (packages/wasm/src/byte-sources.test.ts checks that the three lists agree).
  const hostImports = ["hybrid_llm_source_open", "hybrid_llm_source_size", "hybrid_llm_source_read", "hybrid_llm_source_close", "hybrid_llm_copy_view"];
  const names = [...new Set([...Object.values(imports).flatMap((group) => Object.keys(group)), ...hostImports])].sort();
  const entries = names.map((name) => `  ${name}: function () { return Module["hybridLlmNapi"]["${name}"].apply(null, arguments); },`);
  writeFileSync(file, `// Generated by wasm/build.mjs: emnapi's imports, forwarded to Module.hybridLlmNapi.\nmergeInto(LibraryManager.library, {\n${entries.join("\n")}\n});\n`);
}

/**
 * emscripten 3.1.6's pthread worker script, under Node, assigns `location` on the global object; Deno's worker global
 * has it as a getter only, so the assignment throws and no thread starts. Nothing reads it under Node or Deno (the
 * glue takes `__filename`), so the build drops it.
 */
function patchPthreadWorker(file) {
  const text = readFileSync(file, "utf8");
  const patched = text.replace(/location:\{href:__filename\},?/, "");
  if (patched === text) throw new Error(`${file}: emscripten's "location:{href:__filename}" assignment was not found (newer emscripten?); check Deno and drop this step`);
  writeFileSync(file, patched);
}

async function buildVariant(variant, { checkout, tag, sources, newest, env }) {
  const outputs = variant.outputs.map((name) => join(outputDir, name));
  if (!force && outputs.every((f) => existsSync(f) && statSync(f).mtimeMs > newest)) {
    log(`${variant.name}: up to date: ${outputs[0]}`);
    return;
  }
  const jobs = String(Math.max(1, cpus().length));
  const suffix = variant.name === "st" ? "" : `-${variant.name}`;
  const cmakeDir = join(root, "wasm", "build", `cmake${suffix}-${tag}`);
  const common = variant.flags;
  // (Re)configure when the tree is new or was configured with other flags (cmake keeps the cached ones otherwise).
  const cache = join(cmakeDir, "CMakeCache.txt");
  const configured = existsSync(cache) && readFileSync(cache, "utf8").includes(`CMAKE_CXX_FLAGS:STRING=${common.join(" ")}\n`);
  if (!configured) {
    log(`${variant.name}: configuring llama.cpp ${tag} for wasm32`);
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
  log(`${variant.name}: building llama.cpp ${tag} (static, wasm32) with ${jobs} jobs: a few minutes on 2 cores`);
  let reported = 0;
  await run("cmake", ["--build", cmakeDir, "--target", "llama", "-j", jobs], {
    env,
    quiet: true,
    // cmake prints "[ 42%] Building …": one line per tenth.
    onLine: (line) => {
      const percent = Number(/^\[\s*(\d+)%\]/.exec(line)?.[1] ?? NaN);
      if (percent >= reported + 10 && percent < 100) {
        reported = percent - (percent % 10);
        log(`${variant.name}: building llama.cpp: ${percent}%`);
      }
    },
  });
  log(`${variant.name}: built llama.cpp`);

  const emnapi = packageDir("emnapi");
  const flags = [
    // -msimd128: the sampler's loops (fast-pick.cpp) vectorize; llama.cpp's own build already needs Wasm SIMD.
    "-std=c++17", "-O3", "-msimd128", ...common,
    // emnapi runs async work and thread-safe functions on the one thread (setImmediate), so the binding keeps them.
    "-DHYBRID_LLM_STATIC_LLAMA", "-DNAPI_HAS_THREADS=1", "-DNAPI_VERSION=8", "-DNAPI_CPP_EXCEPTIONS", "-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL", "-DNODE_ADDON_API_DISABLE_DEPRECATED",
    `-I${join(emnapi, "include", "node")}`, `-I${packageDir("node-addon-api")}`,
    `-I${join(checkout, "include")}`, `-I${join(checkout, "ggml", "include")}`,
  ];
  const objectDir = join(root, "wasm", "build", `objects${suffix}`);
  mkdirSync(objectDir, { recursive: true });
  const cpp = sources.filter((f) => f.endsWith(".cpp"));
  log(`${variant.name}: compiling the binding (${cpp.length} files)`);
  const objects = cpp.map((f) => join(objectDir, f.slice(sourceDir.length + 1).replace(/\.cpp$/, ".o")));
  await Promise.all(cpp.map((f, i) => run("em++", [...flags, "-c", f, "-o", objects[i]], { env, quiet: true })));

  const libraries = [
    join(cmakeDir, "src", "libllama.a"),
    join(cmakeDir, "ggml", "src", "libggml.a"),
    join(cmakeDir, "ggml", "src", "libggml-cpu.a"),
    join(cmakeDir, "ggml", "src", "libggml-base.a"),
    // By full path: with -L, emnapi's libdlmalloc would shadow emscripten's malloc.
    join(emnapi, "lib", "wasm32", variant.emnapiLibrary),
  ];
  for (const library of libraries) if (!existsSync(library)) throw new Error(`missing ${library}`);
  mkdirSync(outputDir, { recursive: true });
  const jsLibrary = join(root, "wasm", "build", "napi-imports.js");
  if (variant.name === "mt") {
    writeNapiLibrary(jsLibrary);
    // The glue is CommonJS, inside a "type": "module" package.
    writeFileSync(join(outputDir, "package.json"), `${JSON.stringify({ type: "commonjs" })}\n`);
  }
  log(`${variant.name}: linking ${fast ? "(-O1, --fast)" : "(-O3: wasm-opt takes a minute or two)"}`);
  await run(
    "em++",
    [
      fast ? "-O1" : "-O3", ...common,
      // Names kept in the name section (wasm-opt still optimizes): what a profiler shows per function.
      ...(profile ? ["--profiling-funcs"] : []),
      // wasm32 tops out at 4 GB; the module starts at 64 MB and grows as models and caches need.
      "-sALLOW_MEMORY_GROWTH=1", "-sMAXIMUM_MEMORY=4GB", "-sINITIAL_MEMORY=64MB",
      // Stacks stated, not left to the toolchain: 3.1.6's defaults, which emscripten 3.1.27 cut to 64 KB. Flash
      // attention's grouped-query pass keeps ~37 KB of scratch on the stack (wasm/patches/0006), and Release builds do
      // not check for overflow. (TOTAL_STACK is 3.1.6's name; later releases still take it for STACK_SIZE.)
      "-sTOTAL_STACK=5MB", "-sDEFAULT_PTHREAD_STACK_SIZE=2MB",
      ...linkFlags(variant, jsLibrary),
      ...objects, ...libraries,
      "-o", outputs[0],
    ],
    // Quiet: the st link warns about every napi_* symbol, which emnapi's JavaScript side provides at instantiation.
    { env, quiet: true },
  );
  if (variant.name === "mt") patchPthreadWorker(outputs[2]);
  // Dated when this run of the script started (before it read its inputs and applied the patches), not when the
  // variant's build started or ended: a source or patch edited or added meanwhile stays newer, so the next run
  // rebuilds every variant (the mt build, second, used to be dated after a patch added during the st build).
  const runStarted = new Date(started);
  for (const file of outputs) utimesSync(file, runStarted, runStarted);
  log(`${variant.name}: built ${outputs.map((f) => `${f} (${(statSync(f).size / 1e6).toFixed(2)} MB)`).join(", ")}`);
}

async function main() {
  log("building llama.cpp and the binding to WebAssembly (emscripten) for the Wasm backend");
  const sources = readdirSync(sourceDir).filter((f) => /\.(cpp|h)$/.test(f)).map((f) => join(sourceDir, f));
  const inputs = [...sources, ...patches.map((name) => join(patchDir, name)), fileURLToPath(import.meta.url)];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  const variants = VARIANTS.filter((variant) => !stOnly || variant.name === "st");
  const upToDate = (variant) => variant.outputs.every((name) => existsSync(join(outputDir, name)) && statSync(join(outputDir, name)).mtimeMs > newest);
  // A removed patch makes no input newer: the series the checkout records says so instead. Every module built from
  // the old series (the shipped ones and the profiling one) is then dated 1970 before anything is built, so one that
  // an interrupted build leaves behind still reads as stale.
  if (appliedSeries(llamaCheckout().checkout) !== patchSeries(patchDir)) {
    for (const dir of [shippedDir, profileDir]) {
      for (const name of VARIANTS.flatMap((variant) => variant.outputs)) if (existsSync(join(dir, name))) utimesSync(join(dir, name), 0, 0);
    }
  }
  if (!force && variants.every(upToDate)) {
    log(`up to date: ${variants.flatMap((variant) => variant.outputs).join(", ")} in ${outputDir}`);
    return;
  }
  ensureEmscripten();
  const { checkout, tag } = llamaSource();
  const env = { ...process.env, NODE_PATH: [process.env.NODE_PATH, "/usr/share/nodejs"].filter(Boolean).join(":") };
  for (const variant of variants) await buildVariant(variant, { checkout, tag, sources, newest, env });
}

main().catch((error) => {
  log(`build failed: ${error.message}`);
  if (ifPossible) {
    log("the Wasm backend is unavailable until \"npm run build:wasm\" succeeds (the native backend is unaffected)");
    process.exit(0);
  }
  process.exit(1);
});
