import { BackendError, type BackendContext, type BackendModel, Engine, InvalidArgumentError, type StreamPart } from "@hybrid-llm/core";
import { NodeBackend, type RpcWorker, parseRpcPlacement, startRpcWorker } from "@hybrid-llm/node";
import { runCli } from "@hybrid-llm/server";
import { afterAll, beforeAll, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

// llama.cpp's RPC backend on loopback: two rpc-server workers (ports picked free), the tiny fixture's layers split
// over them. Greedy tokens must equal a local run; a worker killed mid-request must fail the requests in flight
// with a typed error and leave this process (and the engine) serving.

let workers: RpcWorker[] = [];
let path: string;
let local: NodeBackend;
let reference: { model: BackendModel; context: BackendContext };

const prompts = ["the cat sat on", "once upon a time", "abc def", "to be or not"];
const request = (prompt: Int32Array, maxTokens = 24) => ({ prompt, temperature: 0, maxTokens, stopTokens: [], ignoreEndOfGeneration: true });

async function collect(stream: AsyncIterable<StreamPart>, onToken?: () => void): Promise<StreamPart[]> {
  const parts: StreamPart[] = [];
  for await (const part of stream) {
    parts.push(part);
    if (part.type === "token") onToken?.();
  }
  return parts;
}

const tokensOf = (parts: StreamPart[]) => parts.flatMap((p) => (p.type === "token" ? [p.token] : []));

async function open(backend: NodeBackend) {
  const model = await backend.loadModel({ path });
  return { model, context: await model.createContext({ ctx: 512, slots: 2, threads: 1 }) };
}

beforeAll(async () => {
  workers = await Promise.all([startRpcWorker({ threads: 1 }), startRpcWorker({ threads: 1 })]);
  path = await fixturePath("tiny");
  local = await NodeBackend.create({ gpu: "off" });
  reference = await open(local);
});

afterAll(async () => {
  await local?.dispose();
  await Promise.all(workers.map((worker) => worker.stop()));
});

test("rpcServers / tensorSplit are checked in TypeScript: bad endpoints and splits are InvalidArgumentErrors", async () => {
  // eslint-disable-next-line no-sparse-arrays
  for (const servers of [[], ["localhost"], ["localhost:0"], ["localhost:65536"], ["[::1]:5000"], ["a b:1"], [42], ["h:1", "h:1"], "h:1", [, "h:1"], ["h:1;rm -rf /:1"], ["h:1 "], [" h:1"]]) {
    await expect(NodeBackend.create({ gpu: "off", rpcServers: servers as string[] })).rejects.toSatisfy((error) => InvalidArgumentError.isInstance(error));
  }
  // Holes would reach the addon as undefined; weights from 1e9 up overflow its float arithmetic (it refuses them too).
  // eslint-disable-next-line no-sparse-arrays
  for (const split of [[], [-1, 1], [0, 0], [Number.NaN], ["1"], [, 1], [1e9, 1], [Number.MAX_VALUE], [1e-50, 0]]) {
    expect(() => parseRpcPlacement(["h:1"], split)).toThrow(InvalidArgumentError);
  }
  expect(() => parseRpcPlacement(undefined, [1])).toThrow(/give rpcServers too/);
  expect(() => parseRpcPlacement(["h:1", "h:2"], [1])).toThrow(/tensorSplit has 1 weights for 2 servers/);
  expect(parseRpcPlacement(["10.0.0.2:50052", "worker-b.lan:50052"], [1, 3])).toEqual({ servers: ["10.0.0.2:50052", "worker-b.lan:50052"], tensorSplit: [1, 3] });
});

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

test("plan --verify --rpc on the twin: the planned KV + recurrent state of each worker's layers is what that worker allocated, byte for byte", async () => {
  const twin = await fixturePath("nemotron-3-nano-twin");
  const endpoints = workers.map((w) => w.endpoint).join(",");
  const { code, out, err } = await cli("plan", twin, "--ctx", "2048", "--slots", "2", "--verify", "--rpc", endpoints, "--tensor-split", "1,3", "--json");
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const result = JSON.parse(out) as { devices: { name: string; layers: number[]; attentionKvBytes: number; recurrentStateBytes: number; allocatedContextBytes: number }[]; matches: boolean };
  expect(result.matches).toBe(true);
  expect(result.devices.map((d) => d.name)).toEqual(workers.map((w) => w.endpoint));
  // 52 layers, split 1:3 over 53 (with the output layer): 0-13 on the first worker, 14-51 on the second.
  expect(result.devices.map((d) => [d.layers[0], d.layers.at(-1)])).toEqual([[0, 13], [14, 51]]);
  for (const device of result.devices) {
    expect(device.attentionKvBytes > 0 && device.recurrentStateBytes > 0).toBe(true);
    expect(device.allocatedContextBytes).toBe(device.attentionKvBytes + device.recurrentStateBytes);
  }
  // A split whose boundary falls on a layer (0.05 : 0.4 over the tiny fixture's 8 layers + output): the plan puts
  // each layer where llama.cpp does (float32 sums), and `matches` covers every worker's share.
  const tiny = await cli("plan", path, "--ctx", "512", "--slots", "2", "--verify", "--rpc", endpoints, "--tensor-split", "0.05,0.4", "--json");
  expect({ code: tiny.code, err: tiny.err }).toEqual({ code: 0, err: "" });
  const split = JSON.parse(tiny.out) as typeof result;
  expect(split.devices.map((d) => [d.layers, d.allocatedContextBytes === d.attentionKvBytes + d.recurrentStateBytes])).toEqual([[[0], true], [[1, 2, 3, 4, 5, 6, 7], true]]);
  expect(split.matches).toBe(true);
  // Usage errors for RPC options, before anything loads.
  expect((await cli("plan", twin, "--rpc", "nohost")).code).toBe(2);
  expect((await cli("plan", twin, "--rpc", endpoints, "--tensor-split", "1,x")).err).toMatch(/--tensor-split: tensorSplit must be a list of weights/);
  expect((await cli("generate", "--model", twin, "--prompt", "hi", "--backend", "wasm", "--rpc", endpoints)).err).toMatch(/--rpc needs --backend node/);
});

test("a server that is not there: the load fails with a typed error, the process lives", async () => {
  const stopped = await startRpcWorker({ threads: 1 });
  await stopped.stop();
  const backend = await NodeBackend.create({ gpu: "off", rpcServers: [stopped.endpoint] });
  await expect(backend.loadModel({ path })).rejects.toSatisfy((error) => BackendError.isInstance(error) && /could not reach RPC server/.test(error.message));
  // A split that does not match the devices (one server, one device) is refused by the binding, typed.
  const mismatched = await NodeBackend.create({ gpu: "off", rpcServers: [workers[0]!.endpoint], tensorSplit: [1, 1] });
  await expect(mismatched.loadModel({ path })).rejects.toSatisfy((error) => BackendError.isInstance(error) && /2 weights for 1 devices/.test(error.message));
});

test("split over two workers: the layers and the KV / recurrent state live there, and greedy tokens equal a local run, alone and concurrent", async () => {
  const backend = await NodeBackend.create({ gpu: "off", rpcServers: workers.map((w) => w.endpoint), tensorSplit: [1, 1] });
  const remote = await open(backend);
  // Both workers hold weights and context memory (attention KV, recurrent state) of their layers.
  const buffers = remote.context.allocation()!.buffers;
  for (const worker of workers) {
    const row = buffers.find((b) => b.bufferType.endsWith(`[${worker.endpoint}]`));
    expect(row !== undefined && row.modelBytes > 0 && row.contextBytes > 0).toBe(true);
  }
  const tokenized = prompts.map((text) => reference.model.tokenize(text));
  const cold = new Engine(reference);
  const engine = new Engine(remote);
  const alone = [];
  for (const prompt of tokenized) alone.push((await engine.complete(request(prompt))).tokens);
  const concurrent = await Promise.all(tokenized.map((prompt) => collect(engine.generate(request(prompt)))));
  for (const [i, prompt] of tokenized.entries()) {
    const expected = (await cold.complete(request(prompt))).tokens;
    expect(alone[i]).toEqual(expected);
    expect(tokensOf(concurrent[i]!)).toEqual(expected);
  }
  await engine.dispose();
  await cold.dispose();
  await backend.dispose();
});

test("a worker killed mid-request: the requests in flight fail with a crashed BackendError, the engine reopens on the remaining worker and serves the queue", async () => {
  const [survivor, victim] = await Promise.all([startRpcWorker({ threads: 1 }), startRpcWorker({ threads: 1 })]);
  const backends: NodeBackend[] = [];
  try {
    const split = await NodeBackend.create({ gpu: "off", rpcServers: [survivor.endpoint, victim.endpoint], tensorSplit: [1, 1] });
    backends.push(split);
    const crashes: BackendError[] = [];
    const engine = new Engine({
      ...(await open(split)),
      reopen: async (crash) => {
        crashes.push(crash);
        await split.dispose(); // frees the dead model: its messages to the lost worker are dropped, not fatal
        const single = await NodeBackend.create({ gpu: "off", rpcServers: [survivor.endpoint] });
        backends.push(single);
        return open(single);
      },
    });
    const tokenized = prompts.map((text) => reference.model.tokenize(text));
    let seen = 0;
    // 2 slots: the first two run, the other two wait. Kill the worker once the running ones have produced tokens.
    const results = await Promise.all(
      tokenized.map((prompt) =>
        collect(engine.generate(request(prompt, 200)), () => {
          if (++seen === 4) victim.process.kill("SIGKILL");
        }),
      ),
    );
    expect(await victim.exited).toBe("SIGKILL");
    expect(crashes.length).toBe(1);
    expect(crashes[0]!.code).toBe("crashed");
    expect(crashes[0]!.message).toContain(`connection to RPC server ${victim.endpoint} was lost`); // the lost one, not the survivor
    const cold = new Engine(reference);
    for (const [i, parts] of results.entries()) {
      expect(parts.filter((p) => p.type === "finish").length).toBe(1);
      const error = parts.find((p) => p.type === "error");
      if (i < 2) {
        expect(error !== undefined && BackendError.isInstance(error.error) && error.error.code === "crashed").toBe(true);
        continue;
      }
      expect(error).toBeUndefined();
      expect(tokensOf(parts)).toEqual((await cold.complete(request(tokenized[i]!, 200))).tokens);
    }
    const stats = engine.stats();
    expect([stats.state, stats.restarts, stats.slotsBusy, stats.queueDepth]).toEqual(["running", 1, 0, 0]);
    await engine.dispose();
    await cold.dispose();
  } finally {
    for (const backend of backends) await backend.dispose();
    await Promise.all([survivor.stop(), victim.stop()]);
  }
});

test("the OpenAI server over a split model: a worker killed mid-request fails the requests in flight (crashed, to onError), the server stays up and serves again once the engine reopened", async () => {
  const { startServer } = await import("@hybrid-llm/server");
  const [survivor, victim] = await Promise.all([startRpcWorker({ threads: 1 }), startRpcWorker({ threads: 1 })]);
  const backends: NodeBackend[] = [];
  const openOn = async (servers: string[]) => {
    const backend = await NodeBackend.create({ gpu: "off", rpcServers: servers });
    backends.push(backend);
    return open(backend);
  };
  const engine = new Engine({ ...(await openOn([survivor.endpoint, victim.endpoint])), reopen: () => openOn([survivor.endpoint]) });
  const internal: unknown[] = [];
  const server = await startServer({ engine, modelName: "tiny", port: 0, onError: (error) => internal.push(error) });
  const coldEngine = new Engine(reference);
  const cold = await startServer({ engine: coldEngine, modelName: "tiny", port: 0 });
  try {
    const body = (stream: boolean) => JSON.stringify({ model: "tiny", prompt: "the cat sat on", max_tokens: 400, temperature: 0, stream });
    const post = (stream: boolean, url = server.url) => fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: body(stream) });
    const plain = post(false);
    const streamed = await post(true);
    const reader = streamed.body!.getReader();
    await reader.read(); // the first event: decoding is under way
    victim.process.kill("SIGKILL");
    let text = "";
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += new TextDecoder().decode(chunk.value);
    expect(text).not.toContain("[DONE]"); // a failed stream ends without finishing
    // Failed mid-generation: the server's generic 500 (as for any backend crash), the typed error to onError.
    const answer = await plain;
    expect(answer.status).toBe(500);
    expect(internal.length > 0 && internal.every((error) => BackendError.isInstance(error) && error.code === "crashed" && error.message.includes(victim.endpoint))).toBe(true);
    // Still serving: health, then a request on the reopened model (the survivor alone) with the local run's tokens.
    // (a guard against a hang, not a speed assertion: the reopen loads the model over loopback)
    await expect.poll(async () => (await fetch(`${server.url}/health`)).status, { timeout: 120_000, interval: 100 }).toBe(200);
    const again = await post(false);
    expect(again.status).toBe(200);
    const text0 = async (response: Response) => ((await response.json()) as { choices: { text: string }[] }).choices[0]!.text;
    expect(await text0(again)).toBe(await text0(await post(false, cold.url)));
  } finally {
    await server.close();
    await cold.close();
    await coldEngine.dispose();
    await engine.dispose();
    for (const backend of backends) await backend.dispose();
    await Promise.all([survivor.stop(), victim.stop()]);
  }
});

test("hybrid-llm rpc-server: binds 127.0.0.1 by default, serves a split load, stops on SIGTERM with exit 0", async () => {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const bin = fileURLToPath(new URL("../node_modules/.bin/hybrid-llm", import.meta.url));
  const child = spawn(bin, ["rpc-server", "--port", "0", "--threads", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let stdout = "";
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (data: Buffer) => {
      stdout += data.toString();
      const found = /RPC worker listening at (\S+);/.exec(stdout);
      if (found) resolve(found[1]!);
    });
    void exited.then((code) => reject(new Error(`rpc-server exited (${code}) before listening: ${stdout}`)));
  });
  try {
    expect(endpoint).toMatch(/^127\.0\.0\.1:\d+$/);
    const backend = await NodeBackend.create({ gpu: "off", rpcServers: [endpoint] });
    const remote = await open(backend);
    expect(remote.context.allocation()!.buffers.some((b) => b.bufferType === `RPC0[${endpoint}]` && b.modelBytes > 0)).toBe(true);
    await backend.dispose();
  } finally {
    child.kill("SIGTERM");
  }
  expect(await exited).toBe(0);
});

test("startRpcWorker on a port something else listens on: a BackendError, not that listener's endpoint", async () => {
  const { createServer } = await import("node:net");
  const other = createServer();
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  try {
    const port = (other.address() as { port: number }).port;
    const error = await startRpcWorker({ port, threads: 1 }).then((worker) => worker.stop().then(() => worker), (e: unknown) => e);
    expect(BackendError.isInstance(error) && error.code === "unavailable" && error.message.includes(`127.0.0.1:${port} (EADDRINUSE)`)).toBe(true);
  } finally {
    other.close();
  }
});

test("startRpcWorker: a worker not stopped ends with the process that started it (no orphaned rpc-server)", async () => {
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const root = fileURLToPath(new URL("..", import.meta.url));
  // A program that starts a worker and exits without stop(), the way an error or process.exit would.
  const script = `import { startRpcWorker } from "@hybrid-llm/node"; const w = await Promise.all([startRpcWorker({ threads: 1 }), startRpcWorker({ threads: 1 })]); console.log(w.map((x) => x.process.pid).join(" ")); process.exit(0);`;
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, ["--input-type=module", "-e", script], { cwd: root }, (error, out) => (error ? reject(error) : resolve(out))),
  );
  const pids = stdout.trim().split(" ").map(Number);
  expect(pids.length === 2 && pids.every((pid) => Number.isInteger(pid) && pid > 0)).toBe(true);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  try {
    // (a guard against a hang, not a speed assertion: SIGKILL lands within moments)
    await expect.poll(() => pids.filter(alive), { timeout: 10_000, interval: 50 }).toEqual([]);
  } finally {
    for (const pid of pids.filter(alive)) process.kill(pid, "SIGKILL");
  }
});
