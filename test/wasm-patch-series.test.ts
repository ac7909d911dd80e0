// wasm/patch-series.mjs: how wasm/build.mjs keeps llama.cpp's checkout at the release plus wasm/patches, on a small
// git repository standing in for the checkout. A patch added, edited or removed must leave the tree as if the series
// had been applied to a fresh checkout (the build used to fail on an edited patch and never undo a removed one).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
// @ts-expect-error: a plain .mjs build script without types
import { applyPatchSeries, appliedSeries, patchSeries } from "../wasm/patch-series.mjs";

let dir: string;
let checkout: string;
let patches: string;

const git = (...args: string[]) => execFileSync("git", ["-C", checkout, ...args], { encoding: "utf8" });
const read = (file: string) => readFileSync(join(checkout, file), "utf8");

/** A patch that turns line `from` into `to` in a.txt (lines one..five), or creates `file`. */
function linePatch(from: string, to: string): string {
  const lines = ["one", "two", "three", "four", "five"];
  const at = lines.indexOf(from);
  const before = lines.slice(Math.max(0, at - 3), at);
  const after = lines.slice(at + 1, at + 4);
  const start = at - before.length + 1;
  const count = before.length + 1 + after.length;
  return [
    "--- a/a.txt",
    "+++ b/a.txt",
    `@@ -${start},${count} +${start},${count} @@`,
    ...before.map((l) => ` ${l}`),
    `-${from}`,
    `+${to}`,
    ...after.map((l) => ` ${l}`),
    "",
  ].join("\n");
}
const newFilePatch = (file: string) => [`--- /dev/null`, `+++ b/${file}`, "@@ -0,0 +1 @@", "+added", ""].join("\n");

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "patch-series-"));
  checkout = join(dir, "checkout");
  patches = join(dir, "patches");
  mkdirSync(checkout);
  mkdirSync(patches);
  git("init", "-q");
  writeFileSync(join(checkout, "a.txt"), "one\ntwo\nthree\nfour\nfive\n");
  git("add", "a.txt");
  git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "release");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("wasm/patch-series.mjs", () => {
  test("applies the series in name order once, and records it", () => {
    writeFileSync(join(patches, "0001-two.patch"), linePatch("two", "TWO"));
    writeFileSync(join(patches, "0002-new.patch"), newFilePatch("b.txt"));
    writeFileSync(join(patches, "notes.txt"), "not a patch");
    expect(applyPatchSeries(checkout, patches)).toBe(true);
    expect(read("a.txt")).toBe("one\nTWO\nthree\nfour\nfive\n");
    expect(read("b.txt")).toBe("added\n");
    expect(appliedSeries(checkout)).toBe(patchSeries(patches));
    expect(patchSeries(patches).split("\n").filter(Boolean).map((l: string) => l.split(" ")[0])).toEqual(["0001-two.patch", "0002-new.patch"]);
    expect(applyPatchSeries(checkout, patches)).toBe(false); // same series: nothing to do
  });

  test("an edited patch replaces its old version; a removed one is undone, with the files it created", () => {
    writeFileSync(join(patches, "0001-two.patch"), linePatch("two", "TWO"));
    writeFileSync(join(patches, "0002-new.patch"), newFilePatch("b.txt"));
    applyPatchSeries(checkout, patches);
    writeFileSync(join(patches, "0001-two.patch"), linePatch("two", "Two!"));
    expect(applyPatchSeries(checkout, patches)).toBe(true);
    expect(read("a.txt")).toBe("one\nTwo!\nthree\nfour\nfive\n");
    rmSync(join(patches, "0002-new.patch"));
    rmSync(join(patches, "0001-two.patch"));
    writeFileSync(join(patches, "0003-four.patch"), linePatch("four", "FOUR"));
    expect(applyPatchSeries(checkout, patches)).toBe(true);
    expect(read("a.txt")).toBe("one\ntwo\nthree\nFOUR\nfive\n");
    expect(git("status", "--porcelain", "--untracked-files=all").split("\n").filter(Boolean).sort()).toEqual(["?? .hybrid-llm-patches", " M a.txt"].sort());
  });

  test("patches whose context overlaps still apply in order (each after the ones before it)", () => {
    writeFileSync(join(patches, "0001-two.patch"), linePatch("two", "TWO"));
    writeFileSync(join(patches, "0002-three.patch"), linePatch("three", "THREE").replace(" two\n", " TWO\n"));
    applyPatchSeries(checkout, patches);
    writeFileSync(join(patches, "0002-three.patch"), linePatch("three", "3").replace(" two\n", " TWO\n"));
    applyPatchSeries(checkout, patches);
    expect(read("a.txt")).toBe("one\nTWO\n3\nfour\nfive\n");
  });

  test("a patch that does not apply is named, and the series is not recorded", () => {
    writeFileSync(join(patches, "0001-two.patch"), linePatch("two", "TWO"));
    writeFileSync(join(patches, "0002-stale.patch"), linePatch("two", "deux")); // needs "two", which 0001 changed
    expect(() => applyPatchSeries(checkout, patches)).toThrow(/wasm\/patches\/0002-stale\.patch does not apply .* after the patches before it/);
    expect(appliedSeries(checkout)).toBeUndefined();
  });
});
