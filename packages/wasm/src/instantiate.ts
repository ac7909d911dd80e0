import { instantiateNapiModule } from "@emnapi/core";
import { getDefaultContext } from "@emnapi/runtime";
import type { NativeBinding } from "@hybrid-llm/core";
import { WASI } from "@tybys/wasm-util";
import { type ByteReader, byteSourceImports } from "./byte-sources.js";

/** Linear memory a wasm32 module can allocate with `MAXIMUM_MEMORY=4GB` (measured: 3840 MiB). */
export const WASM32_ALLOCATABLE_BYTES = 3840 * 1024 * 1024;

const ENOSYS = 52;

/**
 * Instantiates the standalone Wasm build of the binding with emnapi (no emscripten JS glue): every import lives in
 * `env`, so emnapi's `napi` / `emnapi` imports are merged there; file-system syscalls llama.cpp probes (stat,
 * getcwd, dlopen) answer ENOSYS — models arrive as bytes. WASI is @tybys/wasm-util's pure-JS implementation (Node's
 * node:wasi crashed when memory grew inside a Node-API call).
 */
export async function instantiateBinding(
  wasm: BufferSource | WebAssembly.Module,
  /** Opens a model file for the module to read (see byte-sources.ts); without it, models arrive as bytes only. */
  openPath?: (path: string) => ByteReader,
): Promise<{ binding: NativeBinding; memory: () => WebAssembly.Memory }> {
  const module = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
  let memory: WebAssembly.Memory | undefined;
  const wasi = new WASI({
    version: "preview1",
    returnOnExit: true,
    print: (text: string) => console.log(text),
    printErr: (text: string) => console.error(text),
  });
  const envFunctions = WebAssembly.Module.imports(module)
    .filter((entry) => entry.module === "env" && entry.kind === "function")
    .map((entry) => entry.name);
  const context = getDefaultContext();
  // emnapi reads the global when it creates its module object, synchronously inside this call, before any await.
  const restoreSharedArrayBuffer = hideSharedArrayBuffer();
  let instantiated: ReturnType<typeof instantiateNapiModule>;
  try {
    instantiated = instantiateNapiModule(module, {
      context,
      // wasm-util's WASI satisfies emnapi's WASIInstance at run time; only start()'s declared return type differs.
      wasi: wasi as unknown as NonNullable<Parameters<typeof instantiateNapiModule>[1]["wasi"]>,
      // One thread: async work runs on it via setImmediate, which is why the module lives in a worker.
      asyncWorkPoolSize: 0,
      overwriteImports(imports: WebAssembly.Imports) {
        const env: Record<string, unknown> = { ...imports.env, ...imports.napi, ...imports.emnapi };
        env.emscripten_notify_memory_growth = () => {};
        Object.assign(env, byteSourceImports(context, () => memory!, openPath));
        env.getentropy = (pointer: number, length: number) => {
          crypto.getRandomValues(new Uint8Array(memory!.buffer, pointer, length));
          return 0;
        };
        for (const name of envFunctions) if (!(name in env)) env[name] = () => -ENOSYS;
        return { ...imports, env } as WebAssembly.Imports;
      },
      beforeInit({ instance }: { instance: WebAssembly.Instance }) {
        memory = instance.exports.memory as WebAssembly.Memory;
      },
    });
  } finally {
    restoreSharedArrayBuffer();
  }
  const { napiModule } = await instantiated;
  return { binding: napiModule.exports as NativeBinding, memory: () => memory! };
}

/**
 * Hides `SharedArrayBuffer` from emnapi while it creates its module object for this single-threaded module (whose
 * memory is never shared); returns the function that puts it back. Why: where `SharedArrayBuffer` exists at init, emnapi 1.11's
 * `isSharedArrayBuffer` tells an ordinary `ArrayBuffer` from a shared one by calling the shared getter and catching
 * the TypeError, and it asks that of every typed array that crosses the boundary (a decode's four inputs and its
 * outputs, about 18 throws per decode). Each throw captures a stack through the module's frames: 7 % of the worker's
 * time in a bench-60m Q8_0 decode (scripts/profile-wasm.mjs). Without it, emnapi checks with `ArrayBuffer`'s own
 * getter, which does not throw on an ordinary buffer, and still recognizes a shared one by its tag.
 */
function hideSharedArrayBuffer(): () => void {
  const descriptor = Object.getOwnPropertyDescriptor(globalThis, "SharedArrayBuffer");
  if (!descriptor?.configurable) return () => {};
  delete (globalThis as { SharedArrayBuffer?: unknown }).SharedArrayBuffer;
  return () => {
    Object.defineProperty(globalThis, "SharedArrayBuffer", descriptor);
  };
}
