import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFixture } from "@hybrid-llm/core";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { runCli } from "../packages/server/src/cli/run-cli.js";

/**
 * A loopback server imitating the Hugging Face hub: `HEAD|GET /<owner>/<repo>/resolve/<rev>/<file>` answers 302 to
 * its storage with `x-linked-size` and `x-linked-etag` (the SHA-256), as the hub does for LFS files; the storage
 * (`/cdn/<file>`) serves the bytes with Range support. Each test sets how it misbehaves.
 */
const model = buildFixture("tiny");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
let behaviour: { cutAfter?: number; announcedSize?: number; announcedSha?: string | null; served?: Uint8Array; status?: number; ignoreRange?: boolean };
const requests: { method: string; url: string; range: string | undefined }[] = [];
let server: Server;
let endpoint: string;

function handle(request: IncomingMessage, response: ServerResponse) {
  requests.push({ method: request.method!, url: request.url!, range: request.headers.range });
  const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(request.url!);
  if (resolve) {
    if (behaviour.status !== undefined || resolve[4] !== "tiny.gguf") {
      response.writeHead(behaviour.status ?? 404).end("Entry not found");
      return;
    }
    const sha = behaviour.announcedSha === undefined ? sha256(model) : behaviour.announcedSha;
    response.writeHead(302, {
      location: `/cdn/${resolve[4]}`,
      "x-linked-size": String(behaviour.announcedSize ?? model.length),
      ...(sha === null ? {} : { "x-linked-etag": `"${sha}"` }),
    });
    response.end();
    return;
  }
  const bytes = behaviour.served ?? model;
  if (request.url === "/cdn/tiny.gguf" || request.url === "/plain/tiny.gguf") {
    const range = behaviour.ignoreRange ? null : /^bytes=(\d+)-$/.exec(request.headers.range ?? "");
    const start = range ? Number(range[1]) : 0;
    if (start >= bytes.length && range) {
      response.writeHead(416, { "content-range": `bytes */${bytes.length}` }).end();
      return;
    }
    response.writeHead(range ? 206 : 200, {
      "content-length": String(bytes.length - start),
      "accept-ranges": "bytes",
      ...(range ? { "content-range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (request.method === "HEAD") return response.end();
    if (behaviour.cutAfter !== undefined && request.method === "GET") {
      // Halfway through, the connection drops (once).
      const cut = behaviour.cutAfter;
      behaviour.cutAfter = undefined;
      response.write(bytes.subarray(start, cut), () => setTimeout(() => response.destroy(), 20));
      return;
    }
    response.end(bytes.subarray(start));
    return;
  }
  response.writeHead(404).end();
}

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

let dir: string;
beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.HF_ENDPOINT = endpoint;
});
afterAll(async () => {
  delete process.env.HF_ENDPOINT;
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  behaviour = {};
  requests.length = 0;
  dir = mkdtempSync(join(tmpdir(), "hybrid-llm-models-"));
});

const cached = () => join(dir, "hf", "owner", "repo", "main", "tiny.gguf");
const gets = () => requests.filter((r) => r.method === "GET");

describe("hybrid-llm pull and --model hf:… against a loopback hub", () => {
  test("downloads into the models folder, checks size and SHA-256, prints the path; --model then loads it without a request", async () => {
    const pulled = await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet");
    expect(pulled).toEqual({ code: 0, out: cached(), err: "" });
    expect(sha256(readFileSync(cached()))).toBe(sha256(model));
    expect(gets()).toEqual([{ method: "GET", url: "/cdn/tiny.gguf", range: undefined }]);
    expect(readdirSync(join(dir, "hf", "owner", "repo", "main"))).toEqual(["tiny.gguf"]);

    requests.length = 0;
    process.env.HYBRID_LLM_MODELS_DIR = dir;
    try {
      const generated = await cli("generate", "--model", "hf:owner/repo/tiny.gguf", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "4", "--json", "--gpu", "off");
      expect(generated.code).toBe(0);
      expect(JSON.parse(generated.out).usage.completionTokens).toBe(4);
      const local = await cli("generate", "--model", cached(), "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "4", "--json", "--gpu", "off");
      expect(JSON.parse(generated.out).tokens).toEqual(JSON.parse(local.out).tokens);
      const planned = await cli("plan", "hf:owner/repo/tiny.gguf", "--json", "--ctx", "1024");
      expect(planned.code).toBe(0);
      expect(JSON.parse(planned.out).model).toEqual({ file: cached() });
    } finally {
      delete process.env.HYBRID_LLM_MODELS_DIR;
    }
    expect(requests).toEqual([]);
  });

  test("plan hf:… reads only the header, with a Range request, and caches nothing; plan --verify downloads", async () => {
    process.env.HYBRID_LLM_MODELS_DIR = dir;
    try {
      const planned = await cli("plan", "hf:owner/repo/tiny.gguf", "--json", "--ctx", "1024");
      expect(planned.code).toBe(0);
      expect(JSON.parse(planned.out).model).toEqual({ file: "hf:owner/repo/tiny.gguf" });
      expect(gets()).toEqual([{ method: "GET", url: "/cdn/tiny.gguf", range: `bytes=0-${(1 << 20) - 1}` }]);
      expect(readdirSync(dir)).toEqual([]);
      // The same plan (weights included) as from the file on disk.
      const local = join(mkdtempSync(join(tmpdir(), "hybrid-llm-local-")), "tiny.gguf");
      writeFileSync(local, model);
      const fromFile = JSON.parse((await cli("plan", local, "--json", "--ctx", "1024")).out);
      expect({ ...JSON.parse(planned.out), model: null }).toEqual({ ...fromFile, model: null });
    } finally {
      delete process.env.HYBRID_LLM_MODELS_DIR;
    }
  });

  test("a connection cut halfway is resumed with a Range request from where it stopped", async () => {
    const half = Math.floor(model.length / 2);
    behaviour = { cutAfter: half };
    const pulled = await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet");
    expect(pulled.code).toBe(0);
    expect(sha256(readFileSync(cached()))).toBe(sha256(model));
    const ranges = gets().map((r) => r.range);
    expect(ranges[0]).toBeUndefined();
    expect(ranges).toHaveLength(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1]!)![1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(half);
  });

  test("a partial file left by an earlier run is resumed: only the rest is requested", async () => {
    const third = Math.floor(model.length / 3);
    mkdirSync(join(dir, "hf", "owner", "repo", "main"), { recursive: true });
    writeFileSync(`${cached()}.part`, model.subarray(0, third));
    const pulled = await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet");
    expect(pulled.code).toBe(0);
    expect(gets()).toEqual([{ method: "GET", url: "/cdn/tiny.gguf", range: `bytes=${third}-` }]);
    expect(sha256(readFileSync(cached()))).toBe(sha256(model));
    expect(existsSync(`${cached()}.part`)).toBe(false);
  });

  test("a server that ignores Range: the download starts over and completes; one that sends too few bytes is refused, not retried forever", async () => {
    behaviour = { cutAfter: Math.floor(model.length / 2), ignoreRange: true };
    expect((await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet")).code).toBe(0);
    expect(sha256(readFileSync(cached()))).toBe(sha256(model));
    expect(gets()).toHaveLength(2);

    dir = mkdtempSync(join(tmpdir(), "hybrid-llm-models-"));
    requests.length = 0;
    behaviour = { ignoreRange: true, announcedSize: model.length + 1 };
    const short = await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet");
    expect(short.code).toBe(3);
    expect(short.err).toMatch(/got \d+ bytes, the server announced \d+; the partial file was deleted$/);
    expect(gets().length).toBeLessThanOrEqual(2);
  });

  test("corrupted bytes (SHA-256 mismatch) are refused: exit 3, one line, nothing kept, --model does not load it", async () => {
    const corrupt = Uint8Array.from(model);
    corrupt[corrupt.length - 10]! ^= 0xff;
    behaviour = { served: corrupt };
    const pulled = await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir);
    expect(pulled.code).toBe(3);
    expect(pulled.err).toMatch(new RegExp(`^hybrid-llm pull: download failed: .*SHA-256 ${sha256(corrupt)} does not match the expected ${sha256(model)}; the partial file was deleted$`, "m"));
    expect(pulled.err.split("\n").filter((line) => line.startsWith("hybrid-llm"))).toHaveLength(1);
    expect(readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith(".gguf") || String(f).endsWith(".part"))).toEqual([]);

    process.env.HYBRID_LLM_MODELS_DIR = dir;
    try {
      const generated = await cli("generate", "--model", "hf:owner/repo/tiny.gguf", "--prompt", "hi", "--json");
      expect(generated.code).toBe(3);
      expect(generated.err).toMatch(/^hybrid-llm generate: download failed: .*does not match/);
    } finally {
      delete process.env.HYBRID_LLM_MODELS_DIR;
    }
  });

  test("a short file (fewer bytes than announced) is refused with the sizes, nothing kept", async () => {
    behaviour = { announcedSize: model.length + 1000 };
    const pulled = await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet");
    expect(pulled.code).toBe(3);
    expect(pulled.err).toBe(`hybrid-llm pull: download failed: ${endpoint}/owner/repo/resolve/main/tiny.gguf: got ${model.length} bytes, the server announced ${model.length + 1000}; the partial file was deleted`);
    expect(existsSync(cached())).toBe(false);
    expect(existsSync(`${cached()}.part`)).toBe(false);
  });

  test("a URL without a hash from the server: --sha256 is checked; without it, size only", async () => {
    const url = `${endpoint}/plain/tiny.gguf`;
    const wrong = await cli("pull", url, "--dir", dir, "--quiet", "--sha256", "0".repeat(64));
    expect(wrong.code).toBe(3);
    expect(wrong.err).toMatch(/does not match the expected 0{64}/);
    const right = await cli("pull", url, "--dir", dir, "--quiet", "--sha256", sha256(model));
    expect(right.code).toBe(0);
    expect(right.out).toBe(join(dir, "url", `127.0.0.1_${new URL(endpoint).port}`, "plain", "tiny.gguf"));
    expect(sha256(readFileSync(right.out))).toBe(sha256(model));
  });

  test("HTTP errors, an unreachable server and malformed URIs: one line each, exit 3 (download) or 1", async () => {
    const missing = await cli("pull", "hf:owner/repo/other.gguf", "--dir", dir, "--quiet");
    expect(missing).toMatchObject({ code: 3, err: `hybrid-llm pull: download failed: ${endpoint}/owner/repo/resolve/main/other.gguf: the server answered 404 Not Found` });
    behaviour = { status: 401 };
    expect((await cli("pull", "hf:owner/repo/tiny.gguf", "--dir", dir, "--quiet")).err).toMatch(/answered 401 Unauthorized$/);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const unreachable = await cli("pull", `http://127.0.0.1:${port}/m.gguf`, "--dir", dir, "--quiet");
    expect(unreachable).toMatchObject({ code: 3, err: `hybrid-llm pull: download failed: cannot reach 127.0.0.1:${port}: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:${port})` });
    expect(await cli("pull", "hf:owner/repo", "--dir", dir)).toMatchObject({ code: 1, err: "hybrid-llm pull: not a model URI: hf:owner/repo (expected hf:<owner>/<repo>/<file.gguf>, optionally #<revision>)" });
    expect((await cli("pull", "hf:owner/repo/../../etc/x.gguf", "--dir", dir)).code).toBe(1);
    expect((await cli("pull", "hf:owner/repo/README.md", "--dir", dir)).err).toMatch(/not a GGUF file/);
    expect((await cli("pull", "nope.gguf")).code).toBe(1);
    expect((await cli("pull", "hf:owner/repo/tiny.gguf", "--sha256", "abc")).code).toBe(2);
  });
});
