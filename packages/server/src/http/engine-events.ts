import type { Engine } from "@hybrid-llm/core";
import type { Hono } from "hono";
import { streamSSE } from "hono/streaming";
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
 * `writeTimeoutMs` is cut off.
 */
export function registerEngineEvents(app: Hono, engine: Pick<Engine, "stats" | "slots">, writeTimeoutMs: number): void {
  app.get("/v1/engine/events", (c) => {
    // HEAD (routed here as GET): the headers only. A feed started for it would sample on, unread, until the write timeout.
    if (c.req.method === "HEAD") return c.body(null, 200, { "Content-Type": "text/event-stream", "Cache-Control": "no-store" });
    const response = streamSSE(c, async (sse) => {
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
    });
    response.headers.set("Cache-Control", "no-store"); // streamSSE sets no-cache
    return response;
  });
}
