import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { fixturePath } from "./support/fixtures.js";

const child = fileURLToPath(new URL("./support/load-fuzz-child.mjs", import.meta.url));

// GGUF fuzzing through each backend's whole load path: the TypeScript checks, then llama.cpp (whose loader asserts —
// and aborts the process — on metadata the checks must refuse first). Each run is a process of its own: a native
// abort fails the test with the case it stopped at instead of killing the runner.
describe.each(["node", "wasm"])("1,000 damaged copies of each fixture through the %s backend's load path", (backend) => {
  test.each(["tiny", "nemotron-3-nano-twin"])("%s: every case loads and decodes, or ends in a typed error; the process lives; memory stays bounded", async (profile) => {
    await fixturePath(profile); // the fixture builds (the child builds its own copy from the same generator)
    const { stdout } = await promisify(execFile)(process.execPath, ["--expose-gc", child, backend, profile, "1000"], { timeout: 600_000, maxBuffer: 1 << 22 });
    const report = JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      cases: number;
      loaded: number;
      typedError: number;
      unexpected: number;
      rssGrowthMiB: number;
      reachedLlama: number;
      repeatRssGrowthMiB: number;
      linearMemoryMiB: { start: number; afterFuzz: number; afterRepeat: number };
      unexpectedErrors: unknown[];
    };
    console.log(`${backend} ${profile}: ${JSON.stringify({ ...report, unexpectedErrors: undefined })}`);
    expect(report.unexpectedErrors).toEqual([]);
    expect(report.cases).toBe(1000);
    expect(report.typedError).toBeGreaterThan(800);
    expect(report.loaded).toBeGreaterThan(0); // some damage (a flipped bit in a string) leaves a loadable file
    // Bounded memory. The cases that reached llama.cpp run a second time: a leak grows again, warm-up does not. RSS
    // after a collection still moves by up to ~100 MiB between identical passes (malloc keeps what it freed; on Wasm
    // the worker's garbage copies of the file), so its bound catches leaked weights or contexts (~60-140 loads of a
    // 4-16 MB model in the repeat), not small leaks; on Wasm the module's linear memory is exact (malloc reuses freed
    // blocks): it may grow by a few MiB where a block no longer fits, not with the cases. The whole run's growth
    // includes warm-up (CI saw 516 MiB on the Wasm twin).
    expect(report.reachedLlama).toBeGreaterThan(report.loaded);
    expect(report.repeatRssGrowthMiB).toBeLessThan(192);
    expect(report.linearMemoryMiB.afterRepeat - report.linearMemoryMiB.afterFuzz).toBeLessThanOrEqual(16);
    expect(report.rssGrowthMiB).toBeLessThan(768);
  }, 600_000); // a guard against hangs: the Wasm twin takes ~2 min on a quiet 2-core machine, longer under load
});
