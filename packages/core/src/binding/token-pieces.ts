import { BackendError } from "../errors/backend-error.js";

/** The raw form of a {@link TokenPieceTable}, as the binding returns it and as it crosses a worker boundary. */
export interface TokenPieces {
  /** Every token's bytes, one after another. */
  readonly bytes: Uint8Array;
  /** `vocabSize + 1` offsets: token t's bytes are `bytes[offsets[t], offsets[t + 1])`. */
  readonly offsets: Uint32Array;
}

/**
 * Every token's bytes of a loaded model, fetched from the binding in one call. The engine needs the bytes of each
 * token it generates (its text); fetched one by one, each first sight of a token cost a native call that allocates
 * an `ArrayBuffer` (~15 µs) or, on Wasm, a synchronous round trip to the worker (~70 µs): most of a decode step's
 * JavaScript at 8 rows of a 131k-token vocabulary, where nearly every sampled token is new.
 */
export class TokenPieceTable {
  private constructor(
    private readonly bytes: Uint8Array,
    private readonly offsets: Uint32Array,
  ) {}

  /** Checks what the binding (or a worker) returned: `vocabSize + 1` offsets, rising, ending at the bytes' length. */
  static from(pieces: TokenPieces, vocabSize: number): TokenPieceTable {
    const { bytes, offsets } = pieces ?? ({} as Partial<TokenPieces>);
    if (!(bytes instanceof Uint8Array) || !(offsets instanceof Uint32Array) || offsets.length !== vocabSize + 1) {
      throw new BackendError({ code: "unavailable", message: `the binding's token pieces do not match the vocabulary (${vocabSize} tokens)` });
    }
    if (offsets[0] !== 0 || offsets[vocabSize] !== bytes.length) throw new BackendError({ code: "unavailable", message: "the binding's token piece offsets do not span its bytes" });
    for (let token = 0; token < vocabSize; token++) {
      if (offsets[token]! > offsets[token + 1]!) throw new BackendError({ code: "unavailable", message: "the binding's token piece offsets go backwards" });
    }
    return new TokenPieceTable(bytes, offsets);
  }

  /** Token `token`'s bytes, a copy (a caller's change cannot reach the next one). `token` must be checked first. */
  piece(token: number): Uint8Array {
    const start = this.offsets[token]!;
    const piece = new Uint8Array(this.offsets[token + 1]! - start);
    // (A plain loop: a token is a few bytes, and `slice` costs several times more until V8 has optimized the caller.)
    for (let i = 0; i < piece.length; i++) piece[i] = this.bytes[start + i]!;
    return piece;
  }

  /** The raw arrays, to send across a worker boundary (the receiver builds its own table with {@link from}). */
  raw(): TokenPieces {
    return { bytes: this.bytes, offsets: this.offsets };
  }
}
