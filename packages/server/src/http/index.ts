export { type ServerOptions, createServer } from "./create-server.js";
export { type EngineEvent, type EngineSnapshot, type SlotView, EngineFeed } from "./engine-feed.js";
export { Metrics } from "./metrics.js";
export { type RunningServer, startServer } from "./serve.js";
