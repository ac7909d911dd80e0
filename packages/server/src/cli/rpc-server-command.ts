import { parseArgs } from "node:util";
import { type GpuName, startRpcWorker } from "@hybrid-llm/node";
import { defaultGpu, gpuOption, gpuUsage } from "./backends.js";
import { integerOption } from "./options.js";
import { UsageError } from "./usage-error.js";

export const rpcServerUsage = `hybrid-llm rpc-server [options]

Starts a worker of llama.cpp's RPC backend (its rpc-server, built with the native addon): it lends this machine's
device (the GPU of the chosen llama.cpp build, else the CPU) to a hybrid-llm server started with
--rpc <this-host>:<port>, which then puts some of a model's layers (weights, KV cache, recurrent state) here.

The RPC protocol has NO authentication and NO encryption: anyone who can reach the port can use the device and
read or write its memory. Keep it on 127.0.0.1 (the default) or a private network you trust. See docs/rpc.md.

  --host <address>      address to bind (default: 127.0.0.1)
  --port <n>            (default: 50052; 0 = any free port)
  --threads <n>         CPU threads of the worker's CPU device (default: rpc-server's, half the cores)
  --gpu <api>           ${gpuUsage}`;

export async function rpcServerCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "50052" },
      threads: { type: "string" },
      gpu: { type: "string", default: defaultGpu },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return print(rpcServerUsage);
  const port = integerOption("port", values.port, 0, rpcServerUsage);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`, rpcServerUsage);
  if (!/^[A-Za-z0-9.-]+$/.test(values.host)) throw new UsageError(`--host must be a host name or IPv4 address, got "${values.host}"`, rpcServerUsage);
  const gpu: GpuName = gpuOption(values.gpu, rpcServerUsage);
  const worker = await startRpcWorker({
    host: values.host,
    port,
    gpu,
    stdio: "inherit",
    ...(values.threads === undefined ? {} : { threads: integerOption("threads", values.threads, 1, rpcServerUsage) }),
  });
  if (values.host !== "127.0.0.1" && values.host !== "localhost") {
    process.stderr.write(`warning: ${values.host} is not loopback — the RPC protocol has no authentication; expose it on a private network only\n`);
  }
  print(`RPC worker listening at ${worker.endpoint}; give --rpc ${worker.endpoint} to serve / generate / bench / plan. Ctrl-C to stop`);
  const stop = () => void worker.stop();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const exit = await worker.exited;
  process.off("SIGINT", stop);
  process.off("SIGTERM", stop);
  if (exit !== 0 && exit !== "SIGTERM" && exit !== "SIGINT") throw new Error(`rpc-server exited with ${exit}`);
}
