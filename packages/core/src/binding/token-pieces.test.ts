import { describe, expect, test } from "vitest";
import { BackendError } from "../errors/backend-error.js";
import { TokenPieceTable } from "./token-pieces.js";

const encoder = new TextEncoder();
const pieces = ["", "a", "bc", "", "\u00e9"].map((text) => encoder.encode(text));
const bytes = Uint8Array.from(pieces.flatMap((piece) => [...piece]));
const offsets = Uint32Array.from([0, ...pieces.map((_, i) => pieces.slice(0, i + 1).reduce((n, piece) => n + piece.length, 0))]);

describe("TokenPieceTable", () => {
  test("each token's bytes, as a copy", () => {
    const table = TokenPieceTable.from({ bytes, offsets }, pieces.length);
    pieces.forEach((piece, token) => expect(table.piece(token)).toEqual(piece));
    const first = table.piece(2);
    first.fill(0);
    expect(table.piece(2)).toEqual(encoder.encode("bc")); // a caller's change does not reach the table
    expect(table.raw()).toEqual({ bytes, offsets });
  });

  test("a table that does not match the vocabulary, or whose offsets do not span its bytes in order, is refused", () => {
    const refused = (value: unknown, vocab = pieces.length) => {
      try {
        TokenPieceTable.from(value as never, vocab);
      } catch (error) {
        return BackendError.isInstance(error) && error.code === "unavailable";
      }
      return false;
    };
    expect(refused({ bytes, offsets }, pieces.length + 1)).toBe(true); // one offset short
    expect(refused({ bytes, offsets: Int32Array.from(offsets) })).toBe(true);
    expect(refused({ bytes: [...bytes], offsets })).toBe(true);
    expect(refused(undefined)).toBe(true);
    expect(refused({ bytes: bytes.subarray(1), offsets })).toBe(true); // the last offset is past the bytes
    expect(refused({ bytes, offsets: Uint32Array.from(offsets, (o, i) => (i === 0 ? 1 : o)) })).toBe(true);
    const backwards = offsets.slice();
    backwards[2] = 4; // token 1 would be bytes [1, 4), token 2 [4, 3)
    expect(refused({ bytes, offsets: backwards })).toBe(true);
  });
});
