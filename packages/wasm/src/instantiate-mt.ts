import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { createNapiModule } from "@emnapi/core";
import { getDefaultContext } from "@emnapi/runtime";
import type { NativeBinding } from "@hybrid-llm/core";
import { type ByteReader, byteSourceImports } from "./byte-sources.js";

/** What emscripten's MODULARIZE factory (`createHybridLlmMt`) reads from and adds to the object it is given. */
interface EmscriptenModule {
  pthreadPoolSize: number;
  hybridLlmNapi: Record<string, unknown>;
  print: (text: string) => void;
  printErr: (text: string) => void;
  instantiateWasm: (imports: WebAssembly.Imports, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) => object;
  _malloc?: (size: number) => number;
  _free?: (pointer: number) => void;
  _napi_register_wasm_v1?: (env: number, exports: number) => number;
  _node_api_module_get_api_version_v1?: () => number;
}

/** Finds the one value of a kind among an instance's exports or an import object's fields (names are minified). */
function findValue<T>(objects: readonly object[], type: abstract new (...args: never[]) => T): T | undefined {
  for (const object of objects) {
    for (const value of Object.values(object)) {
      if (value instanceof type) return value;
      if (value !== null && typeof value === "object" && !ArrayBuffer.isView(value)) {
        for (const inner of Object.values(value as object)) if (inner instanceof type) return inner;
      }
    }
  }
  return undefined;
}

/**
 * Instantiates the multi-threaded build (`hybrid-llm-mt.js`, emscripten's glue with pthreads): `threads - 1` worker
 * threads are started and loaded before this resolves, so llama.cpp's thread pool never waits for a worker while the
 * calling thread is blocked in a decode. emnapi is created here and reaches the module through the glue's JS library
 * (wasm/build.mjs, `napi-imports.js` forwards to `Module.hybridLlmNapi`); async work runs on this thread, as in the
 * single-threaded module.
 */
export async function instantiateThreadedBinding(
  gluePath: string,
  threads: number,
  /** Opens a model file for the module to read (see byte-sources.ts); without it, models arrive as bytes only. */
  openPath?: (path: string) => ByteReader,
): Promise<{ binding: NativeBinding; memory: () => WebAssembly.Memory }> {
  const factory = createRequire(import.meta.url)(gluePath) as (module: Partial<EmscriptenModule>) => Promise<EmscriptenModule>;
  const wasmPath = gluePath.replace(/\.js$/, ".wasm");
  const compiled = await WebAssembly.compile(await readFile(wasmPath));
  const context = getDefaultContext();
  const napiModule = createNapiModule({ context, asyncWorkPoolSize: 0 });
  let memory: WebAssembly.Memory | undefined;
  let table: WebAssembly.Table | undefined;
  // Called on this thread only (model loads and the binding's calls run here, never on the pool's threads), after
  // instantiation set `memory`.
  const sources = byteSourceImports(context, () => memory!, openPath);
  const module = await factory({
    pthreadPoolSize: threads - 1,
    hybridLlmNapi: { ...napiModule.imports.env, ...napiModule.imports.napi, ...napiModule.imports.emnapi, ...sources },
    print: (text: string) => console.log(text),
    printErr: (text: string) => console.error(text),
    instantiateWasm(imports, receive) {
      void WebAssembly.instantiate(compiled, imports).then((instance) => {
        memory = findValue([imports], WebAssembly.Memory) ?? findValue([instance.exports], WebAssembly.Memory);
        table = findValue([instance.exports], WebAssembly.Table);
        receive(instance, compiled);
      });
      return {};
    },
  });
  if (memory === undefined || table === undefined || module._malloc === undefined) throw new Error("the multi-threaded Wasm module did not expose its memory, table or malloc");
  const exports = napiModule.init({
    // The glue's exported functions stand for the instance's (whose export names are minified).
    instance: {
      exports: {
        malloc: module._malloc,
        free: module._free,
        napi_register_wasm_v1: module._napi_register_wasm_v1,
        node_api_module_get_api_version_v1: module._node_api_module_get_api_version_v1,
      },
    } as unknown as WebAssembly.Instance,
    module: compiled,
    memory,
    table,
  }) as NativeBinding;
  const found = memory;
  return { binding: exports, memory: () => found };
}
