/**
 * @hybrid-llm/server — the `hybrid-llm` command line; the OpenAI-compatible server joins it later.
 *
 * @packageDocumentation
 */
export { type CliIo, runCli, usage, version } from "./cli/run-cli.js";
export { exitCodes } from "./cli/command-error.js";
export { type EngineEvent, type EngineSnapshot, type RunningServer, type ServerOptions, type SlotView, EngineFeed, createServer, startServer } from "./http/index.js";
