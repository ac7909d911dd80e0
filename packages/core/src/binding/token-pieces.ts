import type { BackendModel } from "../backend/backend-model.js";
import { BackendError } from "../errors/backend-error.js";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";

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

/**
 * A model's two tables (pieces without and with `special`), each fetched at its first ask, and
 * {@link BackendModel.tokenBytes} over them: the one place its arguments are checked, for the native model and for
 * the Wasm backend's caller side alike.
 */
export class TokenPieceTables {
  private readonly tables: { plain?: TokenPieceTable; special?: TokenPieceTable } = {};

  /** @param fetch one table's raw arrays, from the binding or across a worker boundary */
  constructor(
    private readonly vocabSize: number,
    private readonly fetch: (special: boolean) => TokenPieces,
  ) {}

  /** Token `token`'s bytes, a copy; the arguments checked as a JavaScript caller may pass them. */
  tokenBytes(token: number, options: { readonly special?: boolean } | null | undefined): Uint8Array {
    const special: unknown = options?.special ?? false; // (null options, from JavaScript: none)
    // A JavaScript caller's "no" or 1 would be truthy: only a boolean is taken.
    if (typeof special !== "boolean") throw new InvalidArgumentError({ argument: "special", message: `special must be a boolean, got ${typeof special}` });
    // Checked on the number itself: a typed array's index (and an int32 conversion) would take 1.5 as token 1 and
    // wrap 2 ** 32 + 5 to token 5.
    if (typeof token !== "number" || !Number.isInteger(token) || token < 0 || token >= this.vocabSize) {
      throw new InvalidArgumentError({ argument: "token", message: `token must be an integer in [0, ${this.vocabSize}), got ${String(token)}` });
    }
    return this.table(special).piece(token);
  }

  /** The table without or with `special`, fetched and checked the first time. */
  table(special: boolean): TokenPieceTable {
    const key = special ? "special" : "plain";
    return (this.tables[key] ??= TokenPieceTable.from(this.fetch(special), this.vocabSize));
  }
}
