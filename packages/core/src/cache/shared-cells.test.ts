import { describe, expect, test } from "vitest";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";
import { buildFixture } from "../fixtures/profiles.js";
import { cacheSpecFromMetadata } from "../gguf/model-cache-spec.js";
import { parseGguf } from "../gguf/reader.js";
import { catchError } from "../testing/catch-error.js";
import type { CacheSpec } from "./cache-spec.js";
import { checkpointBytes } from "./checkpoint-store.js";
import { shareAttentionCells } from "./shared-cells.js";

const specOf = (profile: string) => cacheSpecFromMetadata(parseGguf(buildFixture(profile)).metadata);

describe("shareAttentionCells: how the prefix cache may reuse a context's attention cells", () => {
  const swa = specOf("lfm2-swa-tiny");

  test("hybrids share cells; purely recurrent models have none", () => {
    expect(shareAttentionCells(specOf("lfm2-tiny"), { swaFull: false })).toBe(true);
    expect(shareAttentionCells(specOf("mamba2-tiny"), { swaFull: true })).toBe(false);
  });

  test("a sliding-window model shares cells on a full-size SWA cache, and resumes from checkpoints alone on a window-sized one", () => {
    expect(shareAttentionCells(swa, { swaFull: true })).toBe(true);
    expect(shareAttentionCells(swa, { swaFull: false })).toBe(false);
  });

  test("sliding and full-attention layers together on a window-sized SWA cache: refused with the reason", () => {
    const [first, ...rest] = swa.attention.layers;
    const mixed: CacheSpec = { ...swa, attention: { ...swa.attention, layers: [{ ...first!, sliding: false }, ...rest] } };
    expect(shareAttentionCells(mixed, { swaFull: true })).toBe(true);
    const error = catchError(() => shareAttentionCells(mixed, { swaFull: false }));
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/mixes sliding-window and full-attention layers: the Engine needs its context created with swaFull: true/);
  });

  test("a sliding-window model's checkpoint estimate includes the window's K and V", () => {
    const recurrentOnly = 5 * 64 * 2 * 4; // 5 short convs × 64 wide × (l_cache 3 - 1) × f32
    expect(checkpointBytes(swa)).toBe(recurrentOnly + 3 * 30 * (32 + 32) * 2);
    expect(checkpointBytes(specOf("lfm2-tiny"))).toBe(4 * 64 * 2 * 4);
  });
});
