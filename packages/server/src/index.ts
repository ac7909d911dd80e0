/**
 * @hybrid-llm/server — the `hybrid-llm` command line and the OpenAI-compatible HTTP server (`createServer`, `startServer`).
 *
 * @packageDocumentation
 * @module @hybrid-llm/server
 */
export { type CliIo, runCli, usage, version } from "./cli/run-cli.js";
export { exitCodes } from "./cli/command-error.js";
export { type EngineEvent, type EngineSnapshot, type RunningServer, type ServerOptions, type SlotView, EngineFeed, createServer, startServer } from "./http/index.js";
