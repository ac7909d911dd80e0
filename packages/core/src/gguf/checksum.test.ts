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

test("slicing-by-8 agrees with the bytewise definition on every length and alignment", () => {
  const bytewise = (bytes: Uint8Array) => {
    let c = 0xffffffff;
    for (const b of bytes) {
      c ^= b;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  const data = Uint8Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 0xff);
  for (let start = 0; start < 9; start++) for (let end = start; end <= data.length; end += 7) expect(crc32(data.subarray(start, end))).toBe(bytewise(data.subarray(start, end)));
});
