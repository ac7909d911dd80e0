#!/usr/bin/env node
// The `hybrid-llm` command. A committed shim (npm links bins at install time, before `npm run build` creates dist/).
import "../dist/cli.js";
