import { describe, expect, test } from "vitest";
import { MAX_GRAMMAR_NESTING, grammarShapeError } from "./grammar-shape.js";

const nested = (depth: number) => `root ::= ${"(".repeat(depth)}"a"${")".repeat(depth)}`;

describe("grammarShapeError", () => {
  test("ordinary grammars pass, nesting up to the limit passes", () => {
    expect(grammarShapeError('root ::= [0-9]+ "."')).toBeUndefined();
    expect(grammarShapeError('root ::= "{" ws ( pair ( "," ws pair )* )? "}"\nws ::= [ \\t\\n]*')).toBeUndefined();
    expect(grammarShapeError(nested(MAX_GRAMMAR_NESTING))).toBeUndefined();
  });

  test("nesting past the limit is refused (llama.cpp's recursive parser would overflow the stack)", () => {
    expect(grammarShapeError(nested(MAX_GRAMMAR_NESTING + 1))).toMatch(/nests groups deeper than 128/);
    expect(grammarShapeError(nested(20_000))).toMatch(/deeper/);
  });

  test("parentheses inside strings, character classes and comments do not count", () => {
    const inert = '"' + "(".repeat(500) + '"';
    expect(grammarShapeError(`root ::= ${inert} [(\\]] "\\"(" # ${"(".repeat(500)}\nx ::= "a"`)).toBeUndefined();
    // An escaped quote does not end the string early: the parentheses after it are still inside it.
    expect(grammarShapeError(`root ::= "\\"${"(".repeat(500)}"`)).toBeUndefined();
  });
});
