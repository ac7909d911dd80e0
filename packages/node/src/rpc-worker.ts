import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, connect } from "node:net";
import { dirname } from "node:path";
import { BackendError, InvalidArgumentError } from "@hybrid-llm/core";
import { type GpuOption, chooseLibrary, parseGpuOption } from "./library.js";
import { rpcServerPath } from "./rpc.js";

/** Options of {@link startRpcWorker}. */
export interface RpcWorkerOptions {
  /** Address to bind. Defaults to `127.0.0.1`: the RPC protocol has no authentication, expose it on private networks only. */
  readonly host?: string;
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  /** CPU threads of the worker's CPU device. Defaults to rpc-server's own (half the cores). */
  readonly threads?: number;
  /** Which llama.cpp build serves the worker's devices (same words as NodeBackend's `gpu`). Defaults to `auto`. */
  readonly gpu?: GpuOption;
  /** A folder with a libllama / ggml build of the pinned release, instead of `gpu`. */
  readonly libraryDir?: string;
  /** Where the worker's output goes. Defaults to `ignore`; `inherit` shows rpc-server's device list. */
  readonly stdio?: "ignore" | "inherit";
  /**
   * Milliseconds rpc-server may take to start listening (a GPU build initializes its devices first) before it is
   * killed and the start fails with a BackendError. Defaults to 60,000.
   */
  readonly startTimeoutMs?: number;
}

/** A running rpc-server. */
export interface RpcWorker {
  /** `host:port` to give to `rpcServers`. */
  readonly endpoint: string;
  /** The rpc-server process. */
  readonly process: ChildProcess;
  /** Resolves with the exit code (or signal) when the worker ends. */
  readonly exited: Promise<number | string>;
  /** Ends the worker (SIGTERM) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Workers still running. None may outlive this process: one that exits (returning, process.exit, an uncaught error)
 * without stop() would leave rpc-server serving its device to the network, orphaned. One exit handler for all of
 * them. (A parent killed by a signal Node does not handle runs no exit handlers: stop() workers from your own.)
 */
const running = new Set<ChildProcess>();
function killRunning(): void {
  for (const child of running) child.kill("SIGKILL");
}

/**
 * `port` if nothing listens on it right now, else a BackendError (0: a free port, the kernel's choice). Checked
 * before rpc-server starts: one that cannot bind exits, while the wait for its port would find the other listener
 * and hand out an endpoint that is not a worker.
 */
async function freePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(new BackendError({ code: "unavailable", message: `the RPC worker cannot listen on ${host}:${port} (${error.code ?? error.message})` })),
    );
    server.listen(port, host, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once something accepts TCP connections on host:port; rejects if `exited` settles first, or after
 * `timeoutMs` (a worker alive but never listening must not hang its caller).
 * @internal exported for tests
 */
export async function waitListening(host: string, port: number, exited: Promise<number | string>, timeoutMs: number): Promise<void> {
  let done = false;
  const died = exited.then((code) => {
    if (!done) throw new BackendError({ code: "unavailable", message: `rpc-server exited (${code}) before listening on ${host}:${port}` });
  });
  const deadline = performance.now() + timeoutMs;
  const poll = async () => {
    for (;;) {
      if (performance.now() > deadline) {
        throw new BackendError({ code: "unavailable", message: `rpc-server did not listen on ${host}:${port} within ${timeoutMs} ms` });
      }
      const ok = await new Promise<boolean>((resolve) => {
        const socket = connect({ host, port }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      });
      if (ok || done) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  try {
    await Promise.race([poll(), died]);
  } finally {
    done = true;
  }
}

/**
 * Starts llama.cpp's rpc-server (built by native/build.mjs) as a worker for {@link NodeBackendOptions.rpcServers}:
 * it serves this machine's devices (the chosen llama.cpp build's GPU, else its CPU) to clients on the network.
 * Resolves once it accepts connections. The worker ends with this process (at its `exit` event) if not stopped before.
 */
export async function startRpcWorker(options: RpcWorkerOptions = {}): Promise<RpcWorker> {
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new InvalidArgumentError({ argument: "host", message: `host must be a host name or IPv4 address, got ${String(host)}` });
  }
  const requested = options.port ?? 0;
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
    throw new InvalidArgumentError({ argument: "port", message: `port must be an integer in [0, 65535], got ${String(options.port)}` });
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > 1024)) {
    throw new InvalidArgumentError({ argument: "threads", message: `threads must be an integer in [1, 1024], got ${String(options.threads)}` });
  }
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  if (typeof startTimeoutMs !== "number" || !Number.isFinite(startTimeoutMs) || startTimeoutMs <= 0) {
    throw new InvalidArgumentError({ argument: "startTimeoutMs", message: `startTimeoutMs must be a positive number of milliseconds, got ${String(options.startTimeoutMs)}` });
  }
  const library = chooseLibrary(parseGpuOption(options.gpu), options.libraryDir);
  if (library === undefined) throw new BackendError({ code: "unavailable", message: "no llama.cpp build for the RPC worker (is node-llama-cpp's prebuilt package installed?)" });
  if (!existsSync(rpcServerPath)) {
    throw new BackendError({ code: "unavailable", message: `rpc-server is not built (${rpcServerPath}); run "node native/build.mjs" (needs a C++17 compiler)` });
  }
  const port = await freePort(host, requested);
  const args = ["--host", host, "--port", String(port), ...(options.threads === undefined ? [] : ["--threads", String(options.threads)])];
  const pathVariable = process.platform === "darwin" ? "DYLD_LIBRARY_PATH" : "LD_LIBRARY_PATH";
  // rpc-server loads its ggml backends from its own folder (libggml-rpc) and the current one (the build's CPU / GPU
  // variants), and links libggml / libggml-base of the chosen build.
  const child = spawn(rpcServerPath, args, {
    cwd: library.dir,
    env: { ...process.env, [pathVariable]: [library.dir, dirname(rpcServerPath), process.env[pathVariable]].filter(Boolean).join(":") },
    stdio: ["ignore", options.stdio ?? "ignore", options.stdio ?? "ignore"],
  });
  running.add(child);
  if (running.size === 1) process.on("exit", killRunning);
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      if (running.size === 0) process.off("exit", killRunning);
      resolve(code ?? signal ?? "unknown");
    }),
  );
  child.once("error", () => undefined); // spawn failures surface as an exit
  try {
    await waitListening(host, port, exited, startTimeoutMs);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    endpoint: `${host}:${port}`,
    process: child,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
