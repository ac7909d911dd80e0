/**
 * Checksums without dependencies or async APIs (core runs in Node, Deno, browsers and Wasm workers alike): CRC-32
 * (IEEE 802.3, as zlib and PNG compute it) for corruption checks, and a 64-bit identity built from CRC-32 and
 * FNV-1a over the same bytes, for "is this the same model" (not a cryptographic hash: it guards against mistakes,
 * not against an adversary crafting a collision).
 */

/** Slicing-by-8 tables: `tables[k][b]` is the CRC of byte b followed by k zero bytes (8 bytes per step, ~1 GB/s). */
const tables = (() => {
  const t = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k]![n] = (t[k - 1]![n]! >>> 8) ^ t[0]![t[k - 1]![n]! & 0xff]!;
  return t;
})();

/** CRC-32 of `bytes` (continuing from `previous`, the CRC of the bytes before, to checksum in pieces). */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = tables as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  let c = (previous ^ 0xffffffff) >>> 0;
  let i = 0;
  const end8 = bytes.length - (bytes.length % 8);
  for (; i < end8; i += 8) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    c =
      t7[lo & 0xff]! ^ t6[(lo >>> 8) & 0xff]! ^ t5[(lo >>> 16) & 0xff]! ^ t4[lo >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** FNV-1a (32 bits) of `bytes`. */
export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h >>> 0;
}

/** 16 hex digits identifying `bytes`: CRC-32 and FNV-1a side by side. */
export function digest64(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, "0") + fnv1a32(bytes).toString(16).padStart(8, "0");
}
