import { defineConfig } from "vitest/config";

// Workspace packages resolve to their TypeScript sources (the "source" export condition), so tests never
// depend on a stale build.
const resolve = { conditions: ["source", "module", "node", "development|production"] };
const ssr = { resolve: { conditions: ["source", "module", "node", "development|production"] } };

export default defineConfig({
  resolve,
  ssr,
  test: {
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
