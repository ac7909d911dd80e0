export { type ServerOptions, createServer } from "./create-server.js";
export { Metrics } from "./metrics.js";
export { type RunningServer, startServer } from "./serve.js";
