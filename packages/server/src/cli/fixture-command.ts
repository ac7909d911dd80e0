import { parseArgs } from "node:util";
import { fixtureProfiles, formatBytes } from "@hybrid-llm/core";
import { writeFixtureFile } from "@hybrid-llm/core/node";
import { UsageError } from "./usage-error.js";

export const fixtureUsage = `hybrid-llm fixture <profile> --out <file> [--seed <n>]
hybrid-llm fixture --list

Writes a tiny random-weight hybrid GGUF that llama.cpp loads and runs (deterministic: same profile and seed,
same bytes).

  --out <file>   where to write the GGUF (folders are created)
  --seed <n>     PRNG seed (default: 42)
  --list         list the profiles`;

export async function fixtureCommand(args: string[], print: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { out: { type: "string" }, seed: { type: "string" }, list: { type: "boolean" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) return print(fixtureUsage);
  if (values.list) {
    for (const profile of fixtureProfiles.values()) print(`${profile.id.padEnd(22)} ${profile.description}`);
    return;
  }
  const [profile, ...extra] = positionals;
  if (profile === undefined || extra.length > 0) throw new UsageError("expected one profile name", fixtureUsage);
  if (!fixtureProfiles.has(profile)) {
    throw new UsageError(`unknown profile "${profile}" (one of ${[...fixtureProfiles.keys()].join(", ")})`, fixtureUsage);
  }
  if (values.out === undefined) throw new UsageError("--out <file> is required", fixtureUsage);
  let seed: number | undefined;
  if (values.seed !== undefined) {
    seed = Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new UsageError(`--seed must be an integer in [0, 2^32), got ${values.seed}`, fixtureUsage);
  }
  const bytes = await writeFixtureFile(profile, values.out, seed);
  print(`wrote ${values.out} (${profile}, seed ${seed ?? fixtureProfiles.get(profile)!.defaultSeed}, ${formatBytes(bytes.length)})`);
}
