// The wasm/patches series and a llama.cpp checkout (used by wasm/build.mjs; tested by test/wasm-patch-series.test.ts).
// The checkout records the series it holds, each patch's name and the hash of its text, in STAMP. When that record
// differs from the series on disk (a patch added, edited or removed), the checkout goes back to the release's own
// files and takes the whole series again, in name order: applying only the new patches on top could not undo a removed
// or edited one. Files a patch changes get new times, so cmake recompiles what includes them.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const STAMP = ".hybrid-llm-patches";

/** The `.patch` files of `dir`, in name order (none when it does not exist). */
export function patchNames(dir) {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".patch")).sort() : [];
}

/** The series as a checkout records it: one `name sha256` line a patch, in order. */
export function patchSeries(dir) {
  return patchNames(dir).map((name) => `${name} ${createHash("sha256").update(readFileSync(join(dir, name))).digest("hex")}\n`).join("");
}

/** The series `checkout` holds, or undefined when it records none (new, or from before the record existed). */
export function appliedSeries(checkout) {
  return existsSync(join(checkout, STAMP)) ? readFileSync(join(checkout, STAMP), "utf8") : undefined;
}

/**
 * Brings `checkout` (a git work tree) to the release's files plus the series in `dir`. Returns false when it already
 * held that series, true when it (re)applied it. Throws, naming the patch, when one does not apply after those before it.
 */
export function applyPatchSeries(checkout, dir, log = () => {}) {
  const series = patchSeries(dir);
  if (appliedSeries(checkout) === series) return false;
  const git = (...args) => spawnSync("git", ["-C", checkout, ...args], { stdio: "ignore" }).status === 0;
  // The release's files as git has them; files a patch created (untracked) go too. cmake builds out of tree.
  if (!git("checkout", "--", ".") || !git("clean", "-fdq")) throw new Error(`could not restore ${checkout} to llama.cpp's own files (git checkout / clean)`);
  for (const name of patchNames(dir)) {
    const patch = join(dir, name);
    if (!git("apply", "--check", patch)) throw new Error(`wasm/patches/${name} does not apply to ${checkout} after the patches before it: was llama.cpp updated? Rebase or drop the patch`);
    git("apply", patch);
    log(`applied wasm/patches/${name}`);
  }
  writeFileSync(join(checkout, STAMP), series);
  return true;
}
