import { describe, expect, test } from "vitest";
import { SchemaError, gbnfLiteral, jsonObjectGrammar, jsonSchemaGrammar, maxBound, maxDepth } from "./json-schema-grammar.js";

/** The grammar's rules by name. */
const rules = (grammar: string) => new Map(grammar.trim().split("\n").map((line) => line.split(" ::= ") as [string, string]));
const refusal = (schema: unknown) => {
  try {
    jsonSchemaGrammar(schema);
  } catch (error) {
    if (error instanceof SchemaError) return error;
    throw error;
  }
  throw new Error(`not refused: ${JSON.stringify(schema)}`);
};

describe("JSON schema -> GBNF", () => {
  test("keywords a grammar cannot enforce are refused with their path, never dropped", () => {
    expect(refusal({ type: "string", pattern: "^a" }).path).toBe("/pattern");
    expect(refusal({ type: "string", format: "date" }).path).toBe("/format");
    expect(refusal({ type: "object", properties: { n: { type: "number", minimum: 0 } } }).path).toBe("/properties/n/minimum");
    expect(refusal({ type: "array", items: { type: "integer", multipleOf: 2 } }).path).toBe("/items/multipleOf");
    expect(refusal({ type: "array", uniqueItems: true }).path).toBe("/uniqueItems");
    expect(refusal({ type: "array", prefixItems: [] }).path).toBe("/prefixItems");
    expect(refusal({ type: "object", minProperties: 1 }).path).toBe("/minProperties");
    expect(refusal({ type: "object", patternProperties: {} }).path).toBe("/patternProperties");
    expect(refusal({ oneOf: [{ type: "string" }] }).message).toMatch(/oneOf.*use anyOf/);
    expect(refusal({ allOf: [{ type: "string" }, { maxLength: 2 }] }).path).toBe("/allOf");
    expect(refusal({ not: { type: "string" } }).path).toBe("/not");
    expect(refusal({ if: {}, then: {} }).path).toBe("/if");
    expect(refusal({ $ref: "https://example.com/s.json" }).path).toBe("/$ref");
    expect(refusal({ $ref: "#/$defs/missing" }).message).toMatch(/does not exist/);
    expect(refusal({ type: "strin" }).path).toBe("/type");
    expect(refusal({ type: "string", maxLength: 2, minLength: 3 }).path).toBe("/maxLength");
    expect(refusal({ type: "string", maxLength: -1 }).path).toBe("/maxLength");
    expect(refusal({ enum: [] }).path).toBe("/enum");
    expect(refusal("object").path).toBe("");
    // A keyword of another type is not silently irrelevant: `maxLength` on a number is refused.
    expect(refusal({ type: "number", maxLength: 3 }).path).toBe("/maxLength");
  });

  test("annotations are accepted; an empty schema is any JSON value", () => {
    expect(rules(jsonSchemaGrammar({ title: "t", description: "d", $schema: "x", default: 1, examples: [] })).get("root")).toBe("value");
    expect(rules(jsonSchemaGrammar(true)).get("root")).toBe("value");
  });

  test("objects write every declared property in order (required or not), compact JSON; literals are escaped", () => {
    const grammar = jsonSchemaGrammar({ type: "object", properties: { 'a"b': { const: "x\n" }, c: { type: "boolean" } }, required: ["c"] });
    const root = rules(grammar).get(rules(grammar).get("root")!)!;
    expect(root).toMatch(/^"\{" ws "\\"a\\\\\\"b\\"" ws ":" ws r\d ws "," ws "\\"c\\"" ws ":" ws r\d ws "\}"$/);
    expect(grammar).toContain(String.raw`r0 ::= "\"x\\n\""`);
    expect(rules(grammar).get("ws")).toBe('| " "');
    expect(gbnfLiteral('say "hi"\\\t')).toBe(String.raw`"say \"hi\"\\\x09"`);
  });

  test("lengths and counts become bounded repetitions; length-limited strings are ASCII; numbers have short exponents", () => {
    const grammar = rules(jsonSchemaGrammar({ type: "array", minItems: 1, maxItems: 3, items: { type: "string", minLength: 2, maxLength: 5 } }));
    expect(grammar.get("r0")).toBe('"\\"" ascii{2,5} "\\""');
    expect(grammar.get("r1")).toBe('"[" ws r0 ( ws "," ws r0 ){0,2} ws "]"');
    expect(grammar.get("ascii")).toMatch(/^\[ !#-\\\[\\\]-~\] \| escape$/);
    const numbers = rules(jsonSchemaGrammar({ type: ["integer", "number", "null"] }));
    expect(numbers.get("integer")).not.toMatch(/[eE.]/); // an integer never takes a fraction or exponent
    expect(numbers.get("number")).toMatch(/\[0-9\]\{1,2\}\)\?$/); // at most two exponent digits: never Infinity
    expect(numbers.get("r0")).toBe("integer | number | null");
    expect(rules(jsonSchemaGrammar({ type: "array", maxItems: 0 })).get("r0")).toBe('"[" ws "]"');
  });

  test("$ref to $defs (recursion included), anyOf, enum filtered by type; json_object is any object", () => {
    const tree = rules(jsonSchemaGrammar({ $defs: { node: { type: "object", properties: { kids: { type: "array", items: { $ref: "#/$defs/node" } } } } }, $ref: "#/$defs/node" }));
    const node = tree.get("root")!;
    expect(tree.get(node)).toMatch(/^r\d+$/);
    expect([...tree.values()].some((rule) => rule.includes(`( ws "," ws ${node} )`))).toBe(true);
    const anyOf = rules(jsonSchemaGrammar({ anyOf: [{ type: "null" }, { enum: ["a", 1] }] }));
    expect([anyOf.get("r0"), anyOf.get("r1"), anyOf.get("r2")]).toEqual(["null", '"\\"a\\"" | "1"', "r0 | r1"]);
    expect(rules(jsonSchemaGrammar({ type: "string", enum: ["a", 1] })).get("r0")).toBe('"\\"a\\""');
    expect(rules(jsonObjectGrammar()).get("root")).toBe("object");
  });

  test("bounds llama.cpp's grammar cannot enforce (over 1000) are refused, never loosened", () => {
    // llama.cpp makes a repetition {m,n} with n > 2000 unbounded and throws for m > 2000.
    expect(refusal({ type: "string", maxLength: 2100 }).path).toBe("/maxLength");
    expect(refusal({ type: "string", minLength: 2000 }).path).toBe("/minLength");
    expect(refusal({ type: "array", minItems: 10_000, items: { type: "object" } }).path).toBe("/minItems");
    expect(refusal({ type: "object", properties: { a: { type: "array", maxItems: maxBound + 1 } } }).message).toMatch(/properties\/a\/maxItems.*0 to 1000/);
    // The cap itself holds, as a bounded repetition: one per sequence (nested ones live in their own rules).
    const grammar = rules(jsonSchemaGrammar({ type: "array", minItems: maxBound, maxItems: maxBound, items: { type: "string", minLength: maxBound, maxLength: maxBound } }));
    expect(grammar.get("r0")).toBe(`"\\"" ascii{${maxBound},${maxBound}} "\\""`);
    expect(grammar.get("r1")).toBe(`"[" ws r0 ( ws "," ws r0 ){${maxBound - 1},${maxBound - 1}} ws "]"`);
  });

  test("keywords beside $ref, anyOf, allOf are refused; beside enum and const they filter the values", () => {
    expect(refusal({ allOf: [{ type: "object" }], properties: { a: { type: "integer" } }, required: ["a"] }).path).toBe("/properties");
    expect(refusal({ anyOf: [{ type: "string" }], minItems: 1 }).path).toBe("/minItems");
    expect(refusal({ $defs: { a: { type: "string" } }, $ref: "#/$defs/a", items: {} }).path).toBe("/items");
    expect(refusal({ type: "object", const: { a: 1 }, properties: {} }).path).toBe("/properties");
    expect(refusal({ const: 1, enum: [1] }).path).toBe("/enum");
    expect(rules(jsonSchemaGrammar({ type: "string", enum: ["a", "bbb", "cc"], minLength: 2, maxLength: 2 })).get("r0")).toBe('"\\"cc\\""');
    expect(rules(jsonSchemaGrammar({ type: "array", enum: [[1], [1, 2]], minItems: 2 })).get("r0")).toBe('"[1,2]"');
    expect(refusal({ type: "string", enum: ["a"], minLength: 2 }).message).toMatch(/no enum value/);
    expect(refusal({ type: "integer", const: "1" }).path).toBe("/const");
    expect(rules(jsonSchemaGrammar({ type: "number", const: 3, title: "t" })).get("r0")).toBe('"3"');
  });

  test("schemas nested deeper than 64 levels are refused (no stack overflow)", () => {
    let deep: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < 100_000; i++) deep = { type: "array", items: deep };
    expect(refusal(deep).message).toMatch(/deeper than 64/);
    let ok: Record<string, unknown> = { type: "string" };
    for (let i = 0; i < maxDepth; i++) ok = { type: "object", properties: { a: ok } };
    expect(jsonSchemaGrammar(ok)).toContain("root ::=");
    let anyOf: unknown = {};
    for (let i = 0; i < 100_000; i++) anyOf = { anyOf: [anyOf] };
    expect(refusal(anyOf).path).toMatch(/^(\/anyOf\/0){65}$/);
  });
});
