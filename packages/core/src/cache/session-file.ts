import { InvalidSessionError } from "../errors/invalid-session-error.js";
import { crc32 } from "../gguf/checksum.js";

/**
 * The saved-session format: one conversation's cache — its tokens, the whole sequence state (attention cells and
 * recurrent state, as llama.cpp's `llama_state_seq_get_data` writes it) and the recurrent checkpoints along it — so a
 * later process resumes it like an in-memory cached prefix.
 *
 * ```
 *  "HLLMSESS"  u32 version  u32 n  <n bytes: JSON header>  i32 tokens[]  state  checkpoints…  u32 CRC-32 of all before
 * ```
 *
 * The header names the model (its GGUF identity) and the cache geometry it was written for, and the sizes of the
 * parts; {@link decodeSession} checks all of it, and the checksum, before anything is handed to a backend.
 */

export const sessionFormatVersion = 1;
const magic = new TextEncoder().encode("HLLMSESS");

/** The cache shape a sequence state depends on: a state only restores into a context with the same one. */
export interface SessionGeometry {
  readonly architecture: string;
  readonly kvTypeK: string;
  readonly kvTypeV: string;
  /** Attention layers and recurrent layers of the model (redundant with the identity; shown in errors). */
  readonly attentionLayers: number;
  readonly recurrentLayers: number;
}

/** A decoded session. */
export interface Session {
  readonly modelIdentity: string;
  readonly geometry: SessionGeometry;
  /** The tokens whose cells the state holds, in order. */
  readonly tokens: Int32Array;
  /** The whole sequence state at the end of `tokens`. */
  readonly state: Uint8Array;
  /** Recurrent checkpoints (partial states) at positions inside `tokens`. */
  readonly checkpoints: readonly { readonly depth: number; readonly state: Uint8Array }[];
  /** What the caller attached when saving (JSON). */
  readonly metadata: unknown;
}

interface Header {
  modelIdentity: string;
  geometry: SessionGeometry;
  tokens: number;
  stateBytes: number;
  checkpoints: { depth: number; bytes: number }[];
  metadata: unknown;
}

/** Encodes a session (see the format above). */
export function encodeSession(session: Session): Uint8Array {
  const header: Header = {
    modelIdentity: session.modelIdentity,
    geometry: session.geometry,
    tokens: session.tokens.length,
    stateBytes: session.state.length,
    checkpoints: session.checkpoints.map((c) => ({ depth: c.depth, bytes: c.state.length })),
    metadata: session.metadata ?? null,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const size = magic.length + 8 + json.length + session.tokens.length * 4 + session.state.length + session.checkpoints.reduce((n, c) => n + c.state.length, 0) + 4;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  out.set(magic, at);
  at += magic.length;
  view.setUint32(at, sessionFormatVersion, true);
  view.setUint32(at + 4, json.length, true);
  at += 8;
  out.set(json, at);
  at += json.length;
  for (const token of session.tokens) {
    view.setInt32(at, token, true);
    at += 4;
  }
  out.set(session.state, at);
  at += session.state.length;
  for (const checkpoint of session.checkpoints) {
    out.set(checkpoint.state, at);
    at += checkpoint.state.length;
  }
  view.setUint32(at, crc32(out.subarray(0, at)), true);
  return out;
}

const corrupt = (message: string) => new InvalidSessionError({ reason: "corrupt", message: `not a valid session file: ${message}` });

/**
 * Decodes and checks a session: magic, version, checksum, sizes; then that it was written by `expect.modelIdentity`
 * for `expect.geometry`, and holds at most `expect.maxTokens` tokens. Throws {@link InvalidSessionError} otherwise.
 */
export function decodeSession(bytes: Uint8Array, expect: { modelIdentity: string; geometry: SessionGeometry; maxTokens: number; vocabSize: number }): Session {
  if (!(bytes instanceof Uint8Array)) throw corrupt("expected bytes (a Uint8Array)");
  if (bytes.length < magic.length + 12 || magic.some((b, i) => bytes[i] !== b)) throw corrupt("it does not start with HLLMSESS");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(magic.length, true);
  if (version !== sessionFormatVersion) throw new InvalidSessionError({ reason: "version", message: `session format version ${version} is not supported (this build reads version ${sessionFormatVersion})` });
  const stored = view.getUint32(bytes.length - 4, true);
  if (crc32(bytes.subarray(0, bytes.length - 4)) !== stored) throw corrupt("its checksum does not match (damaged or truncated)");
  const jsonLength = view.getUint32(magic.length + 4, true);
  let at = magic.length + 8;
  if (at + jsonLength > bytes.length - 4) throw corrupt("its header runs past the end");
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(at, at + jsonLength))) as Header;
  } catch {
    throw corrupt("its header is not JSON");
  }
  at += jsonLength;
  const count = (n: unknown) => typeof n === "number" && Number.isInteger(n) && n >= 0;
  if (typeof header !== "object" || header === null || typeof header.modelIdentity !== "string" || !count(header.tokens) || !count(header.stateBytes) || !Array.isArray(header.checkpoints) || typeof header.geometry !== "object" || header.geometry === null) {
    throw corrupt("its header is incomplete");
  }
  if (!header.checkpoints.every((c) => typeof c === "object" && c !== null && count(c.depth) && count(c.bytes) && c.depth <= header.tokens)) throw corrupt("its checkpoint table is malformed");
  const total = at + header.tokens * 4 + header.stateBytes + header.checkpoints.reduce((n, c) => n + c.bytes, 0) + 4;
  if (total !== bytes.length) throw corrupt(`its parts add up to ${total} bytes, the file has ${bytes.length}`);
  if (header.modelIdentity !== expect.modelIdentity) {
    throw new InvalidSessionError({ reason: "model", message: `the session was saved with another model (identity ${header.modelIdentity}; this model is ${expect.modelIdentity})` });
  }
  const g = header.geometry;
  const e = expect.geometry;
  if (g.architecture !== e.architecture || g.kvTypeK !== e.kvTypeK || g.kvTypeV !== e.kvTypeV || g.attentionLayers !== e.attentionLayers || g.recurrentLayers !== e.recurrentLayers) {
    throw new InvalidSessionError({ reason: "geometry", message: `the session was saved for a cache of another shape (${JSON.stringify(g)}; this context is ${JSON.stringify(e)})` });
  }
  if (header.tokens > expect.maxTokens) {
    throw new InvalidSessionError({ reason: "too-long", message: `the session holds ${header.tokens} tokens; one sequence of this context holds at most ${expect.maxTokens}` });
  }
  const tokens = new Int32Array(header.tokens);
  for (let i = 0; i < header.tokens; i++, at += 4) {
    const token = view.getInt32(at, true);
    if (token < 0 || token >= expect.vocabSize) throw corrupt(`token ${i} (${token}) is outside the vocabulary`);
    tokens[i] = token;
  }
  // The state is a view (restoring copies it into the context at once); checkpoints are copies, since the store
  // keeps them and a view would keep the whole file alive with them.
  const state = bytes.subarray(at, at + header.stateBytes);
  at += header.stateBytes;
  const checkpoints = header.checkpoints.map((c) => {
    const part = bytes.slice(at, at + c.bytes);
    at += c.bytes;
    return { depth: c.depth, state: part };
  });
  return { modelIdentity: header.modelIdentity, geometry: header.geometry, tokens, state, checkpoints, metadata: header.metadata };
}
