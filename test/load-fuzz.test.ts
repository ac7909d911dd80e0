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
      secondHalfRssGrowthMiB: number;
      linearMemoryMiB: { start: number; half: number; end: number };
      unexpectedErrors: unknown[];
    };
    console.log(`${backend} ${profile}: ${JSON.stringify({ ...report, unexpectedErrors: undefined })}`);
    expect(report.unexpectedErrors).toEqual([]);
    expect(report.cases).toBe(1000);
    expect(report.typedError).toBeGreaterThan(800);
    expect(report.loaded).toBeGreaterThan(0); // some damage (a flipped bit in a string) leaves a loadable file
    // Bounded memory: after the first 500 cases warmed up, the next 500 leave it where it was. Leaked weights (16 MB
    // on the twin, ~30 loads in the second half) would fail the RSS bound, which allows for the worker's uncollected
    // garbage (103 MiB seen on a loaded machine); on Wasm, linear memory is exact (malloc reuses freed blocks), so
    // even a leak of 32 KB per case fails there. The total includes the warm-up: the module's linear memory grows once
    // to the largest case (~175 MiB on the twin) and the worker's heap holds garbage copies of 16 MB files, which no
    // collection here can reach (CI saw 516 MiB).
    expect(report.secondHalfRssGrowthMiB).toBeLessThan(256);
    expect(report.linearMemoryMiB.end - report.linearMemoryMiB.half).toBeLessThanOrEqual(16);
    expect(report.rssGrowthMiB).toBeLessThan(768);
  });
});
