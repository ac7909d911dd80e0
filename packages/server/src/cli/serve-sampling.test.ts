import { expect, test } from "vitest";
import { runCli } from "./run-cli.js";

test("serve: the default-sampling flags are documented and a bad value is a usage error naming the flag, before any model is opened", async () => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (line: string) => out.push(line), err: (line: string) => err.push(line) };
  expect(await runCli(["serve", "--help"], io)).toBe(0);
  for (const flag of ["--temperature <t>", "--top-p <p>", "--top-k <k>", "--min-p <p>"]) expect(out.join("\n")).toContain(flag);
  for (const [flag, value] of [["--temperature", "2.5"], ["--top-p", "0"], ["--top-k", "1.5"], ["--min-p", "x"]] as const) {
    err.length = 0;
    // The model file does not exist: a code 2 usage error naming the flag shows the flag was checked first.
    expect(await runCli(["serve", "--model", "nope.gguf", flag, value], io), flag).toBe(2);
    expect(err.join("\n"), flag).toContain(flag);
  }
});
