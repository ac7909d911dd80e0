import type { AddressInfo } from "node:net";
import { serve as serveNode } from "@hono/node-server";
import { type ServerOptions, createServer } from "./create-server.js";

/** A running server. */
export interface RunningServer {
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

/**
 * Starts the OpenAI-compatible server on `host:port` (port 0 picks a free one). Binds 127.0.0.1 unless told otherwise.
 * `hybrid-llm serve` is this, with its options from the command line.
 *
 * @example
 * ```ts
 * import { Engine } from "@hybrid-llm/core";
 * import { NodeBackend } from "@hybrid-llm/node";
 * import { startServer } from "@hybrid-llm/server";
 *
 * const backend = await NodeBackend.create();
 * const model = await backend.loadModel({ path: "model.gguf" });
 * const engine = new Engine({ model, context: await model.createContext({ ctx: 32768, slots: 8 }) });
 * const server = await startServer({ engine, modelName: "model", port: 8080 });
 * // any OpenAI client: new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused" })
 * ```
 */
export async function startServer(options: ServerOptions & { readonly host?: string; readonly port?: number }): Promise<RunningServer> {
  const app = createServer(options);
  const host = options.host ?? "127.0.0.1";
  return new Promise((resolve, reject) => {
    const server = serveNode({ fetch: app.fetch, hostname: host, port: options.port ?? 8080 }, (info: AddressInfo) => {
      const shownHost = host.includes(":") ? `[${host}]` : host;
      resolve({
        url: `http://${shownHost}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
    server.on("error", reject);
  });
}
