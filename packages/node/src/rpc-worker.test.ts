import { createServer } from "node:net";
import { BackendError, InvalidArgumentError } from "@hybrid-llm/core";
import { describe, expect, test } from "vitest";
import { startRpcWorker, waitListening } from "./rpc-worker.js";

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("waitListening", () => {
  test("a worker alive but never listening fails typed after the timeout instead of hanging", async () => {
    const alive = new Promise<number | string>(() => undefined); // never exits
    const error = await waitListening("127.0.0.1", await closedPort(), alive, 300).catch((e: unknown) => e);
    expect(BackendError.isInstance(error) && error.code === "unavailable" && /did not listen on 127\.0\.0\.1:\d+ within 300 ms/.test(error.message)).toBe(true);
  });

  test("resolves once the port accepts connections", async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await expect(waitListening("127.0.0.1", (server.address() as { port: number }).port, new Promise(() => undefined), 5_000)).resolves.toBeUndefined();
    } finally {
      server.close();
    }
  });
});

test.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY, "100"])("startRpcWorker refuses startTimeoutMs %s before starting anything", async (value) => {
  const error = await startRpcWorker({ startTimeoutMs: value as number }).catch((e: unknown) => e);
  expect(InvalidArgumentError.isInstance(error) && error.argument === "startTimeoutMs").toBe(true);
});
