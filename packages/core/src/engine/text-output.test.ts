import { describe, expect, test } from "vitest";
import { TextOutput } from "./text-output.js";

const encode = (text: string) => new TextEncoder().encode(text);

/** What TextOutput must produce, computed on the whole text at once: the text up to the earliest stop found as each token arrives. */
function reference(pieces: Uint8Array[], stops: string[]): { value: string; stopped: boolean } {
  const decoder = new TextDecoder();
  let text = "";
  for (const piece of [...pieces, undefined]) {
    const before = text.length;
    text += piece === undefined ? decoder.decode() : decoder.decode(piece, { stream: true }); // (the last: the decoder's end)
    const found = stops.filter((stop) => stop.length > 0).map((stop) => text.indexOf(stop, Math.max(0, before - stop.length + 1)));
    const at = Math.min(...found.filter((position) => position !== -1));
    if (Number.isFinite(at)) return { value: text.slice(0, at), stopped: true };
  }
  return { value: text, stopped: false };
}

function run(pieces: Uint8Array[], stops: string[]) {
  const output = new TextOutput(stops);
  const deltas: string[] = [];
  let stopped = false;
  for (const piece of pieces) {
    const result = output.push(piece);
    deltas.push(result.delta);
    if (result.stopped) {
      stopped = true;
      break;
    }
  }
  deltas.push(output.flush());
  return { deltas, value: output.value, stopped };
}

describe("TextOutput", () => {
  test("a stop string straddling tokens cuts the text before it; nothing is emitted after it", () => {
    const { deltas, value, stopped } = run(["Hello, wo", "rld! EN", "D and more"].map(encode), ["END"]);
    expect(stopped).toBe(true);
    expect(value).toBe("Hello, world! ");
    expect(deltas.join("")).toBe(value);
    // Two characters are held back each time (a stop of three may start there): "EN" waited for the "D".
    expect(deltas[0]).toBe("Hello, ");
    expect(deltas[1]).toBe("world! ");
  });

  test("a token holding several stops cuts at the earliest, whatever the stops' order", () => {
    const { deltas, value, stopped } = run(["hel", "lo world"].map(encode), ["world", "o"]);
    expect(stopped).toBe(true);
    expect(value).toBe("hell");
    expect(deltas.join("")).toBe(value);
    // Prefixes of each other, and a stop longer than the whole text: the same cut.
    expect(run([encode("xabcd")], ["abcd", "ab", "a much longer stop than the text"]).value).toBe("x");
  });

  test("the decoder's last characters (U+FFFD for an unfinished character) are looked through for stops too", () => {
    const output = new TextOutput(["b\uFFFD"]);
    expect(output.push(Uint8Array.of(0x61, 0x62, 0xf0, 0x9f))).toEqual({ delta: "a", stopped: false });
    expect(output.flush()).toBe("");
    expect(output.value).toBe("a");
    expect(output.push(encode("c"))).toEqual({ delta: "", stopped: true });
  });

  test("a caller's very long stop list is taken (no spread of it into Math.max, which throws past ~100,000)", () => {
    const stops = Array.from({ length: 300_000 }, (_, i) => `stop ${i}`);
    const { value, stopped } = run(["say stop 29", "9999 now"].map(encode), stops);
    expect(stopped).toBe(true);
    expect(value).toBe("say ");
  });

  test("a UTF-8 character split across tokens comes out whole; a surrogate pair is never split between deltas", () => {
    const bytes = encode("a😀b€c");
    const pieces = Array.from(bytes, (byte) => Uint8Array.of(byte));
    const { deltas, value } = run(pieces, ["zz"]); // holds back one UTF-16 unit
    expect(value).toBe("a😀b€c");
    expect(deltas.join("")).toBe(value);
    const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    for (const delta of deltas) expect(delta).not.toMatch(loneSurrogate);
  });

  test("matches the whole-text reference on random token streams and stop sets", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const alphabet = ["a", "b", "c", " ", "\n", "é", "😀", "ab", "ba", "</s>"];
    for (let trial = 0; trial < 400; trial++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 60) }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
      const bytes = encode(text);
      const pieces: Uint8Array[] = [];
      for (let at = 0; at < bytes.length; ) {
        const size = 1 + Math.floor(random() * 5);
        pieces.push(bytes.slice(at, at + size));
        at += size;
      }
      const stops = Array.from({ length: Math.floor(random() * 3) }, () => alphabet[Math.floor(random() * alphabet.length)]! + alphabet[Math.floor(random() * 4)]!);
      const expected = reference(pieces, stops);
      const got = run(pieces, stops);
      expect(got.value).toBe(expected.value);
      expect(got.stopped).toBe(expected.stopped);
      expect(got.deltas.join("")).toBe(got.value);
    }
  });
});
