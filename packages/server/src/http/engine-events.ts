import type { Engine } from "@hybrid-llm/core";
import type { Hono } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import { withDeadline } from "./deadline.js";
import { EngineFeed } from "./engine-feed.js";

/** How often a subscriber gets a snapshot, in ms. */
export const engineFeedIntervalMs = 250;

/**
 * `GET /v1/engine/events`: a server-sent event stream of the engine's live view for as long as the client reads it.
 * Every {@link engineFeedIntervalMs} ms an event `snapshot` (an {@link EngineSnapshot}), preceded by one event
 * `engine` per change seen since the previous one (an {@link EngineEvent}: a request admitted to or leaving a slot,
 * preemptions, checkpoint evictions, a backend restart). Under the same API key as the rest of /v1 (the page sends
 * it as a Bearer header through fetch, never in the URL). A client that does not take an event within
 * `writeTimeoutMs` is cut off. At most `maxClients` streams are open at once (each samples the engine 4 times a
 * second): one more is answered 503 with Retry-After, until a stream ends.
 */
export function registerEngineEvents(app: Hono, engine: Pick<Engine, "stats" | "slots">, writeTimeoutMs: number, maxClients: number): void {
  let open = 0;
  app.get("/v1/engine/events", (c) => {
    // HEAD (routed here as GET): the headers only. A feed started for it would sample on, unread, until the write timeout.
    if (c.req.method === "HEAD") return c.body(null, 200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store" });
    if (open >= maxClients) {
      c.header("Retry-After", "5");
      const message = `the server already streams its engine events to ${maxClients} clients (maxEventClients); retry when one has closed`;
      return c.json({ error: { message, type: "server_error", param: null, code: "too_many_event_clients" } }, 503);
    }
    const feedLoop = async (sse: SSEStreamingApi) => {
      const feed = new EngineFeed(engine);
      const send = (event: string, data: unknown) =>
        withDeadline(sse.writeSSE({ event, data: JSON.stringify(data) }).then(() => true), performance.now() + writeTimeoutMs, async () => {
          (c.env as { outgoing?: { destroy(): void } } | undefined)?.outgoing?.destroy();
          return false;
        });
      while (!sse.aborted && !sse.closed) {
        const { snapshot, events } = feed.sample();
        for (const event of events) if (!(await send("engine", event))) return;
        if (!(await send("snapshot", snapshot))) return;
        await sse.sleep(engineFeedIntervalMs);
      }
    };
    // Counted from here until the stream's callback ends (the client closed, or was cut off), once.
    open++;
    let counted = true;
    const release = () => {
      if (counted) open--;
      counted = false;
    };
    let response: Response;
    try {
      response = streamSSE(c, async (sse) => {
        try {
          await feedLoop(sse);
        } finally {
          release();
        }
      });
    } catch (error) {
      release();
      throw error;
    }
    response.headers.set("Cache-Control", "no-store"); // streamSSE sets no-cache
    return response;
  });
}
