import { type Hash, createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable, Transform } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

/**
 * Why a download was refused: the server answered an error or stopped answering, or the file it sent is not the
 * one announced (`size`, `sha256`).
 */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly reason: "http" | "network" | "size" | "sha256",
  ) {
    super(message);
    this.name = "DownloadError";
  }
}

/** What the server announces about a file before it is downloaded. */
export interface RemoteFile {
  /** Where the bytes come from after redirects. */
  readonly url: string;
  /** Bytes, from the hub's `x-linked-size` (LFS files) or `Content-Length`; null when neither is given. */
  readonly size: number | null;
  /** SHA-256 (hex) from the hub's `x-linked-etag` (LFS files) or a 64-hex `ETag`; null when neither is one. */
  readonly sha256: string | null;
}

export interface DownloadOptions {
  /** The expected SHA-256 (hex), which wins over the server's. */
  readonly sha256?: string;
  /** Called as bytes arrive: bytes on disk so far (resumed ones included) and the total, if known. */
  readonly onProgress?: (received: number, total: number | null) => void;
  /** Connection drops survived by resuming with a Range request before giving up. Defaults to 5. */
  readonly retries?: number;
  /** Extra request headers (e.g. `Authorization` for gated models). */
  readonly headers?: Readonly<Record<string, string>>;
}

const sha256Pattern = /^[0-9a-f]{64}$/;
const unquote = (value: string | null) => value?.replace(/^W\//, "").replace(/^"|"$/g, "").toLowerCase() ?? null;

/**
 * Asks the server what `url` holds, following redirects by hand so that the headers of each hop are seen: the hub
 * answers `resolve/` URLs of LFS files with a redirect that carries `x-linked-size` and `x-linked-etag` (the
 * SHA-256), the storage it redirects to does not.
 */
export async function probe(url: string, headers: Readonly<Record<string, string>> = {}): Promise<RemoteFile> {
  let size: number | null = null;
  let sha256: string | null = null;
  let current = url;
  for (let hop = 0; hop < 10; hop++) {
    let response: Response;
    try {
      response = await fetch(current, { method: "HEAD", redirect: "manual", headers });
    } catch (error) {
      throw new DownloadError(`cannot reach ${new URL(current).host}: ${describe(error)}`, "network");
    }
    const linkedSize = response.headers.get("x-linked-size");
    if (linkedSize !== null && size === null) size = Number(linkedSize);
    const linkedEtag = unquote(response.headers.get("x-linked-etag"));
    if (linkedEtag !== null && sha256Pattern.test(linkedEtag)) sha256 ??= linkedEtag;
    const location = response.headers.get("location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      current = new URL(location, current).href;
      continue;
    }
    if (!response.ok) throw new DownloadError(`${url}: the server answered ${response.status} ${response.statusText}`.trim(), "http");
    const length = response.headers.get("content-length");
    if (size === null && length !== null) size = Number(length);
    const etag = unquote(response.headers.get("etag"));
    if (etag !== null && sha256Pattern.test(etag)) sha256 ??= etag;
    return { url: current, size: size !== null && Number.isSafeInteger(size) ? size : null, sha256 };
  }
  throw new DownloadError(`${url}: too many redirects`, "http");
}

/**
 * Downloads `url` to `destination`, through `destination.part`: a partial file left by an earlier run or a dropped
 * connection is resumed with an HTTP Range request. The file is renamed into place only once its size and SHA-256
 * match what was announced (or `options.sha256`); otherwise the partial file is deleted and a DownloadError thrown,
 * so a bad file is never used. Returns what the server announced.
 */
export async function download(url: string, destination: string, options: DownloadOptions = {}): Promise<RemoteFile> {
  const headers = options.headers ?? {};
  const remote = await probe(url, headers);
  const expectedSha = options.sha256?.toLowerCase() ?? remote.sha256;
  const partial = `${destination}.part`;
  await mkdir(dirname(destination), { recursive: true });
  if (remote.size !== null && (await sizeOf(partial)) > remote.size) await rm(partial, { force: true });
  // A partial file of an earlier run: resumed, its bytes hashed from disk.
  let { hash, size: received } = await hashFile(partial);
  options.onProgress?.(received, remote.size);

  const retries = options.retries ?? 5;
  let failures = 0;
  while (remote.size === null || received < remote.size) {
    let response: Response;
    try {
      response = await fetch(remote.url, { headers: received > 0 ? { ...headers, Range: `bytes=${received}-` } : headers });
    } catch (error) {
      if (++failures <= retries) continue;
      throw new DownloadError(`cannot reach ${new URL(remote.url).host}: ${describe(error)}`, "network");
    }
    // 416: nothing past what is on disk (the server has fewer bytes than it announced; the size check says so).
    if (response.status === 416) {
      await response.body?.cancel();
      break;
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel();
      throw new DownloadError(`${url}: the server answered ${response.status} ${response.statusText}`.trim(), "http");
    }
    const before = received;
    if (received > 0 && (response.status !== 206 || !response.headers.get("content-range")?.startsWith(`bytes ${received}-`))) {
      // The server ignored the range (or answered another one): start over.
      hash = createHash("sha256");
      received = 0;
    }
    try {
      await pipeline(
        // (Node's web stream type: with the DOM lib, as typedoc builds, `body` is typed as the DOM's.)
        Readable.fromWeb(response.body as WebReadableStream<Uint8Array>),
        new Transform({
          transform(chunk: Buffer, _, done) {
            hash.update(chunk);
            received += chunk.length;
            options.onProgress?.(received, remote.size);
            done(null, chunk);
          },
        }),
        createWriteStream(partial, { flags: received > 0 ? "a" : "w" }),
      );
    } catch (error) {
      // A dropped connection: resume from what reached the disk (bytes counted but not yet written are lost with
      // the stream, so the file is measured and hashed again). Only attempts that brought nothing count.
      ({ hash, size: received } = await hashFile(partial));
      if (received > before) failures = 0;
      if (++failures <= retries) continue;
      throw new DownloadError(`the download of ${url} stopped at ${received} bytes: ${describe(error)}`, "network");
    }
    // A body that ended cleanly: done when the size is unknown; one that got no further ends here too (the size
    // check below refuses it), so a server that sends fewer bytes than it announced cannot keep this looping.
    if (remote.size === null || received <= before) break;
  }

  const refuse = async (message: string, reason: "size" | "sha256") => {
    await rm(partial, { force: true });
    throw new DownloadError(`${url}: ${message}; the partial file was deleted`, reason);
  };
  if (remote.size !== null && received !== remote.size) await refuse(`got ${received} bytes, the server announced ${remote.size}`, "size");
  const actual = hash.digest("hex");
  if (expectedSha !== null && actual !== expectedSha) await refuse(`SHA-256 ${actual} does not match the expected ${expectedSha}`, "sha256");
  await rename(partial, destination);
  return remote;
}

/**
 * The first bytes of `url` (at most `length`): a Range request, and a server that ignores it is cut off after
 * `length` bytes instead of sending the whole file.
 */
export async function fetchPrefix(remote: RemoteFile, length: number, headers: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(remote.url, { headers: { ...headers, Range: `bytes=0-${length - 1}` } });
  } catch (error) {
    throw new DownloadError(`cannot reach ${new URL(remote.url).host}: ${describe(error)}`, "network");
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new DownloadError(`${remote.url}: the server answered ${response.status} ${response.statusText}`.trim(), "http");
  }
  const prefix = new Uint8Array(length);
  let filled = 0;
  const reader = response.body.getReader();
  try {
    while (filled < length) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.length, length - filled);
      prefix.set(value.subarray(0, take), filled);
      filled += take;
    }
  } catch (error) {
    throw new DownloadError(`reading ${remote.url} stopped at ${filled} bytes: ${describe(error)}`, "network");
  } finally {
    await reader.cancel().catch(() => {});
  }
  return prefix.subarray(0, filled);
}

/** The SHA-256 (hex) of a file. */
export async function sha256OfFile(path: string): Promise<string> {
  return (await hashFile(path)).hash.digest("hex");
}

/** SHA-256 state and size of what `path` holds (nothing when it does not exist). */
async function hashFile(path: string): Promise<{ hash: Hash; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  if ((await sizeOf(path)) > 0) {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  }
  return { hash, size };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

function describe(error: unknown): string {
  type Cause = { code?: string; message?: string; errors?: Cause[] };
  let cause = (error as { cause?: Cause })?.cause;
  // Several addresses tried (IPv4 and IPv6): an AggregateError; the first says enough.
  if (cause?.code === undefined && cause?.errors?.[0] !== undefined) cause = cause.errors[0];
  if (cause?.code !== undefined) return `${cause.code}${cause.message ? ` (${cause.message})` : ""}`;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
