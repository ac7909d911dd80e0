#!/usr/bin/env node
// `npm test`'s first step: the browser tests (test/browser-*.test.ts) drive Debian's chromium at /usr/bin/chromium
// through playwright-core, which downloads no browser. When it is missing and this runs as root on Debian/Ubuntu,
// it apt-get installs it, saying so first, as the Wasm build does for emscripten (HYBRID_LLM_NO_APT=1 skips it);
// otherwise it says how, and the browser tests fail with the same advice. Never fails itself.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const chromium = "/usr/bin/chromium";
const log = (message) => process.stderr.write(`[hybrid-llm test setup] ${message}\n`);

if (!existsSync(chromium)) {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = spawnSync("sh", ["-c", "command -v apt-get"], { stdio: "ignore" }).status === 0;
  if (isRoot && hasApt && process.env.HYBRID_LLM_NO_APT !== "1") {
    log(`${chromium} is missing: the browser tests need Debian's chromium, so this now runs (system-wide)`);
    log("  apt-get update && apt-get install -y chromium        (HYBRID_LLM_NO_APT=1 skips it)");
    try {
      execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
      execFileSync("apt-get", ["install", "-y", "-qq", "chromium"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
      log(`installed ${chromium}`);
    } catch (error) {
      log(`could not install chromium (${error.message}); the browser tests will fail until it is installed`);
    }
  } else {
    log(`${chromium} is missing: install Debian's chromium (apt-get install -y chromium) or the browser tests fail`);
  }
}
