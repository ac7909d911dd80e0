/**
 * Checksums without dependencies or async APIs (core runs in Node, Deno, browsers and Wasm workers alike): CRC-32
 * (IEEE 802.3, as zlib and PNG compute it) for corruption checks, and a 64-bit identity built from CRC-32 and
 * FNV-1a over the same bytes, for "is this the same model" (not a cryptographic hash: it guards against mistakes,
 * not against an adversary crafting a collision).
 */

const table = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `bytes` (continuing from `previous`, the CRC of the bytes before, to checksum in pieces). */
export function crc32(bytes: Uint8Array, previous = 0): number {
  let c = (previous ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
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
