import { DisposedError, InvalidArgumentError } from "@hybrid-llm/core";
import { NodeBackend } from "@hybrid-llm/node";
import { WasmBackend } from "@hybrid-llm/wasm";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { fixturePath } from "./support/fixtures.js";

// Both models fetch every token's bytes in one call (the engine asks for every generated token: on Wasm each ask
// was a synchronous round trip to the worker, natively a call that allocates): the answers must stay llama.cpp's.
describe("tokenBytes: every token's bytes fetched once, the same on Wasm and native", () => {
  let wasm: WasmBackend;
  let native: NodeBackend;
  let path: string;

  beforeAll(async () => {
    path = await fixturePath("tiny");
    wasm = await WasmBackend.create();
    native = await NodeBackend.create({ gpu: false });
  });
  afterAll(async () => {
    await wasm?.dispose();
    await native?.dispose();
  });

  test("one trip to the worker per table; every token's bytes (plain and special) equal the native backend's", async () => {
    const model = await wasm.loadModel({ path });
    const reference = await native.loadModel({ path });
    try {
      const trips = vi.spyOn(wasm, "callSync");
      const vocab = model.info.vocabSize;
      let special = 0;
      for (let token = 0; token < vocab; token++) {
        expect(model.tokenBytes(token)).toEqual(reference.tokenBytes(token));
        const withSpecial = model.tokenBytes(token, { special: true });
        expect(withSpecial).toEqual(reference.tokenBytes(token, { special: true }));
        if (withSpecial.length !== model.tokenBytes(token).length) special++;
      }
      expect(special).toBeGreaterThan(0); // control tokens: empty without special, their text with it
      expect(model.tokenBytes(42)).toEqual(reference.tokenBytes(42)); // no options: plain
      expect(trips.mock.calls.map(([, method]) => method)).toEqual(["tokenPieces", "tokenPieces"]); // plain, then special
      trips.mockRestore();
    } finally {
      await model.dispose();
      await reference.dispose();
    }
  });

  test("a caller changing the returned bytes does not change the next answer", async () => {
    const model = await wasm.loadModel({ path });
    try {
      const token = 42;
      const first = model.tokenBytes(token);
      expect(first.length).toBeGreaterThan(0);
      const original = first.slice();
      first.fill(0xff);
      expect(model.tokenBytes(token)).toEqual(original);
    } finally {
      await model.dispose();
    }
  });

  test("bad tokens are still refused every time, and a disposed model still says so", async () => {
    const model = await wasm.loadModel({ path });
    const vocab = model.info.vocabSize;
    for (let round = 0; round < 2; round++) {
      // (2 ** 32 + 5 and 1e300 wrap to valid tokens as int32; "5" is not a number)
      for (const token of [-1, vocab, vocab + 5, 1.5, 2 ** 32 + 5, -(2 ** 32) + 5, 1e300, Number.NaN, "5" as unknown as number]) {
        const error = (() => {
          try {
            model.tokenBytes(token);
          } catch (e) {
            return e;
          }
        })();
        expect(InvalidArgumentError.isInstance(error)).toBe(true);
      }
      for (const special of ["no", 1]) {
        const error = (() => {
          try {
            model.tokenBytes(1, { special: special as unknown as boolean });
          } catch (e) {
            return e;
          }
        })();
        expect(InvalidArgumentError.isInstance(error)).toBe(true);
      }
    }
    expect(model.tokenBytes(1, null as unknown as object)).toEqual(model.tokenBytes(1)); // null options from JavaScript: none
    await model.dispose();
    expect(() => model.tokenBytes(1)).toThrow(DisposedError);
  });

  test("the native model keeps them too: the same bytes on repeats, a caller's change does not reach the next answer, bad tokens and a disposed model are refused", async () => {
    const model = await native.loadModel({ path });
    const vocab = model.info.vocabSize;
    const first = model.tokenBytes(42);
    const plain = first.slice();
    first.fill(0xff);
    expect(model.tokenBytes(42)).toEqual(plain);
    expect(model.tokenBytes(42, { special: true }).length).toBeGreaterThan(0);
    for (let round = 0; round < 2; round++) {
      for (const token of [-1, vocab, 1.5, 2 ** 32 + 5, -(2 ** 32) + 5, 1e300, Number.NaN, "5" as unknown as number]) {
        expect(() => model.tokenBytes(token)).toThrow(InvalidArgumentError);
      }
      // A non-boolean `special` is refused, not taken as truthy ("no" would render the special token).
      for (const special of ["no", 1]) expect(() => model.tokenBytes(1, { special: special as unknown as boolean })).toThrow(InvalidArgumentError);
      expect(model.tokenBytes(1, null as unknown as object)).toEqual(model.tokenBytes(1));
    }
    await model.dispose();
    expect(() => model.tokenBytes(42)).toThrow(DisposedError);
  });
});
