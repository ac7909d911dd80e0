import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFixture } from "@hybrid-llm/core";
import { writeFixtureFile } from "@hybrid-llm/core/node";

/** Generated fixtures are cached here (git-ignored), keyed by profile and seed. */
export const fixtureCacheDir = fileURLToPath(new URL("../../.cache/fixtures/", import.meta.url));

/**
 * Path of a fixture file, generating it on first use. The cached file is rebuilt when its bytes no longer match
 * what the generator writes (the generator changed), so a stale cache can never hide a regression.
 */
export async function fixturePath(profile: string, seed?: number): Promise<string> {
  const path = join(fixtureCacheDir, `${profile}${seed === undefined ? "" : `-${seed}`}.gguf`);
  const expected = buildFixture(profile, seed);
  if (existsSync(path)) {
    const cached = readFileSync(path);
    if (cached.length === expected.length && Buffer.compare(cached, expected) === 0) return path;
  }
  await writeFixtureFile(profile, path, seed);
  return path;
}
