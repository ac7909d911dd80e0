/** Where a model comes from: a file path (read by the host; memory-mapped natively) or the GGUF bytes. */
export type ModelSource = { readonly path: string } | { readonly bytes: Uint8Array };
