import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

// Workspace packages resolve to their TypeScript sources (the "source" export condition), so tests never
// depend on a stale build.
const resolve = { conditions: ["source", "module", "node", "development|production"] };
const ssr = { resolve: { conditions: ["source", "module", "node", "development|production"] } };

export default defineConfig({
  resolve,
  ssr,
  test: {
    // Two test files at a time even on a 2-core machine (vitest would run one: cores - 1). The llama.cpp tests run
    // one compute thread each (threads: 1), so a second file uses the core that would otherwise idle while the
    // first waits on its Wasm worker or child process; fixtures are written atomically for this.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.test.ts"],
          environment: "node",
          // A guard against hangs, not a speed assertion: shared 2-core machines can be slow.
          testTimeout: 30_000,
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: "llama",
          include: ["test/**/*.test.ts"],
          environment: "node",
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
