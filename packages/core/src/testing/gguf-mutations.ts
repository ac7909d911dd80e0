import { SeededRandom } from "../fixtures/random.js";
import { parseGguf } from "../gguf/reader.js";

/**
 * Damaged copies of a GGUF file for fuzzing, deterministic for a seed: a third truncations (mostly inside the
 * header, where parsers work), the rest mutations of the header — flipped bits, wild 64-bit lengths and counts,
 * wild 32-bit type ids and dimension counts, zeroed stretches. Made one at a time (a thousand copies of a large
 * fixture would not fit in memory together).
 */
export function* mutateGguf(original: Uint8Array, count: number, seed = 7): Generator<Uint8Array> {
  const headerLength = parseGguf(original).dataOffset;
  const random = new SeededRandom(seed);
  const truncations = Math.floor(count / 3);
  for (let i = 0; i < truncations; i++) {
    const cut = i % 4 === 0 ? Math.floor(random.between(0, original.length)) : Math.floor(random.between(0, headerLength + 64));
    yield original.slice(0, cut);
  }
  for (let i = 0; i < count - truncations; i++) {
    const copy = original.slice();
    const view = new DataView(copy.buffer);
    const at = Math.floor(random.between(0, headerLength - 8));
    switch (i % 4) {
      case 0: // flip a few random bits
        for (let k = 0; k < 1 + (i % 7); k++) copy[Math.floor(random.between(0, headerLength))]! ^= 1 << (k % 8);
        break;
      case 1: // a wild 64-bit length or count
        view.setBigUint64(at, [2n ** 63n, 2n ** 32n + 1n, 0xffffffffffffffffn, BigInt(original.length)][(i >> 2) % 4]!, true);
        break;
      case 2: // a wild 32-bit type id, dimension count or value
        view.setUint32(at, [0xffffffff, 13, 9, 5, 0, 512][(i >> 2) % 6]!, true);
        break;
      default: // zero a stretch
        copy.fill(0, at, at + 1 + ((i >> 2) % 32));
    }
    yield copy;
  }
}
