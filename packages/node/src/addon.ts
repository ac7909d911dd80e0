import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { BackendError, type NativeBinding } from "@hybrid-llm/core";

/** Where `npm install` (native/build.mjs) puts the addon. */
export const addonPath = fileURLToPath(new URL("../build/hybrid-llm.node", import.meta.url));

let binding: NativeBinding | undefined;

/** Loads the compiled Node-API addon (once per process). */
export function loadAddon(): NativeBinding {
  if (binding !== undefined) return binding;
  if (!existsSync(addonPath)) {
    throw new BackendError({
      code: "unavailable",
      message: `the native addon is not built (${addonPath}); run "node native/build.mjs" (needs a C++17 compiler and git)`,
    });
  }
  binding = createRequire(import.meta.url)(addonPath) as NativeBinding;
  return binding;
}
