import { describe, expect, test } from "vitest";
import { crc32, digest64, fnv1a32 } from "./checksum.js";

describe("checksums", () => {
  const text = new TextEncoder().encode("123456789");
  test("CRC-32 and FNV-1a match their published check values", () => {
    expect(crc32(text)).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
    expect(crc32(text.subarray(4), crc32(text.subarray(0, 4)))).toBe(0xcbf43926); // in pieces
    expect(fnv1a32(new TextEncoder().encode("a"))).toBe(0xe40c292c);
  });
  test("any flipped bit changes the digest", () => {
    const base = digest64(text);
    for (let i = 0; i < text.length * 8; i++) {
      const copy = text.slice();
      copy[i >> 3]! ^= 1 << (i & 7);
      expect(digest64(copy)).not.toBe(base);
    }
  });
});
