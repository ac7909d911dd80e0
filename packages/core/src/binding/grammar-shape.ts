/**
 * How deeply a GBNF grammar may nest groups. llama.cpp's grammar parser recurses once per `(` on the calling thread's
 * stack: a 40 KB grammar of nested parentheses overflows it (a segmentation fault natively, a trap in the Wasm
 * module), so grammars are measured here before any native call. Real grammars (JSON schemas, tool calls) nest a few
 * levels; 128 leaves a wide margin on both sides.
 */
export const MAX_GRAMMAR_NESTING = 128;

/**
 * Why llama.cpp must not be handed this grammar (nesting deeper than {@link MAX_GRAMMAR_NESTING}), or undefined.
 * Counts `(` depth outside string literals (`"…"`), character classes (`[…]`) and comments (`# …` to the end of
 * the line), honouring backslash escapes. Does not check anything else: llama.cpp's parser reports the rest.
 */
export function grammarShapeError(grammar: string): string | undefined {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < grammar.length; i++) {
    const c = grammar[i];
    if (c === '"' || c === "[") {
      const close = c === '"' ? '"' : "]";
      for (i++; i < grammar.length && grammar[i] !== close; i++) if (grammar[i] === "\\") i++;
    } else if (c === "#") {
      while (i < grammar.length && grammar[i] !== "\n" && grammar[i] !== "\r") i++;
    } else if (c === "(") {
      deepest = Math.max(deepest, ++depth);
      if (deepest > MAX_GRAMMAR_NESTING) return `the grammar nests groups deeper than ${MAX_GRAMMAR_NESTING} levels`;
    } else if (c === ")") {
      depth = Math.max(0, depth - 1);
    }
  }
  return undefined;
}
