/**
 * Model bytes the Wasm module reads while it loads, without a copy of the file in linear memory. The binding's
 * ByteSource (native/src/byte-source.cpp) hands llama.cpp a stdio stream whose reads call these imports; each read
 * copies one stdio-sized chunk from the bytes held here (a Uint8Array in the JavaScript heap, or a file read with
 * positioned reads) into linear memory. Linear memory then holds the weights once instead of the file and the weights.
 * One more import does the same for the small arrays of every decode call (hybrid_llm_copy_view).
 */

/** Model bytes outside linear memory, read at an offset. */
export interface ByteReader {
  readonly size: number;
  /** Copies up to `target.length` bytes from `offset` into `target`; returns how many (0 at the end). */
  read(target: Uint8Array, offset: number): number;
  close(): void;
}

/** The part of emnapi's runtime context used here: napi_value handles to JavaScript values. */
interface HandleContext {
  handleStore: { get(id: number): { value: unknown } | undefined };
}

function bytesReader(view: ArrayBufferView): ByteReader {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  return {
    size: bytes.length,
    read(target, offset) {
      // A detached buffer (transferred away mid-load) reads as empty: llama.cpp then reports a truncated file.
      const chunk = bytes.subarray(offset, offset + target.length);
      target.set(chunk);
      return chunk.length;
    },
    close() {},
  };
}

/**
 * The module's own `env` imports (declared in native/src/host-imports.h; wasm/build.mjs forwards the same names to the
 * multi-threaded module). Those behind ByteSource: `open` takes the napi_value passed to `Model.load()` (a typed array, or a
 * path when `openPath` is given) and answers an id, or -1 when it cannot serve it (the binding then copies the bytes
 * into linear memory as before); `copy_view` copies a typed array into linear memory for the binding's copy_array. No
 * import throws: a throw would unwind through the module and leave it unusable.
 */
export function byteSourceImports(
  context: HandleContext,
  memory: () => WebAssembly.Memory,
  openPath?: (path: string) => ByteReader,
): Record<string, (...args: never[]) => number | void> {
  const sources = new Map<number, ByteReader>();
  let nextId = 1;
  return {
    hybrid_llm_source_open(handle: number): number {
      try {
        const value = context.handleStore.get(handle)?.value;
        const reader = ArrayBuffer.isView(value) ? bytesReader(value) : typeof value === "string" && openPath !== undefined ? openPath(value) : undefined;
        if (reader === undefined) return -1;
        const id = nextId++;
        sources.set(id, reader);
        return id;
      } catch {
        return -1;
      }
    },
    hybrid_llm_source_size(id: number): number {
      return sources.get(id)?.size ?? 0;
    },
    hybrid_llm_source_read(id: number, offset: number, target: number, length: number): number {
      const reader = sources.get(id);
      if (reader === undefined) return -1;
      try {
        // The memory's buffer is fetched on every read: it is replaced whenever linear memory grows.
        return reader.read(new Uint8Array(memory().buffer, target >>> 0, length >>> 0), offset);
      } catch {
        return -1;
      }
    },
    /**
     * A typed array's bytes into linear memory at `target` (native/src/context.cpp's copy_array: a decode's tokens,
     * positions, sequence ids and output flags): one copy, where emnapi's data pointer would malloc a copy in linear
     * memory and register it for release when the array is collected. 0, or -1 (nothing written) when the handle is
     * not a typed array, `length` is not its byte length, or the target is outside linear memory.
     */
    hybrid_llm_copy_view(handle: number, target: number, length: number): number {
      try {
        const value = context.handleStore.get(handle)?.value;
        if (!ArrayBuffer.isView(value) || value.byteLength !== length >>> 0) return -1;
        new Uint8Array(memory().buffer, target >>> 0, length >>> 0).set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        return 0;
      } catch {
        return -1;
      }
    },
    hybrid_llm_source_close(id: number): void {
      const reader = sources.get(id);
      sources.delete(id);
      try {
        reader?.close();
      } catch {
        // Closing a read-only file cannot lose anything.
      }
    },
  };
}
