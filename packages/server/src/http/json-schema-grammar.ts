/**
 * JSON Schema -> GBNF (llama.cpp's grammar format), for `response_format` and tool-call arguments.
 *
 * Every keyword is either enforced by the grammar or refused with a {@link SchemaError} naming it: a schema the
 * grammar cannot guarantee must not be answered with output that might not validate. The output is compact JSON
 * (at most one space between tokens) so a model cannot wander off into whitespace.
 *
 * Supported: `type` (one or a list), `enum`, `const`, `properties` (every declared property is written, in order:
 * that satisfies `required` whatever it lists), `required`, `additionalProperties` (false, true or a schema: only
 * used when an object declares no properties), `items`, `minItems`, `maxItems`, `minLength`, `maxLength`, `anyOf`,
 * `allOf` with one member (`anyOf`, `allOf` and `$ref` take no other keyword beside them but annotations; `enum` and
 * `const` take `type` and the length and item bounds, which filter their values), `$ref` to `#/$defs/…` or `#/definitions/…` (recursion included), and the annotations
 * `title`, `description`, `default`, `examples`, `$schema`, `$id`, `$comment`, `deprecated`, `readOnly`,
 * `writeOnly`. Everything else (`pattern`, `format`, `minimum`, `oneOf`, `uniqueItems`, …) is refused.
 *
 * Limits (refused past them, never loosened): `minLength`, `maxLength`, `minItems` and `maxItems` at most
 * {@link maxBound}, and schemas nested at most {@link maxDepth} levels. llama.cpp's grammar parser turns a repetition
 * `{m,n}` with n > 2000 into an unbounded one and throws for m > 2000, or when the repetitions of one sequence
 * multiply past 2000; every sequence this converter writes holds at most one bounded repetition (nested ones sit in
 * their own rules and do not multiply), so a cap of 1000 keeps each one enforced with margin.
 *
 * Why not node-llama-cpp's converter (3.21.1, a dependency already): its package exports do not include it (only
 * reachable by file path), it ends every grammar with four required newlines, and its number rules let an
 * `integer` take a negative exponent (`1e-5`) and any number a 16-digit exponent (parses to Infinity) — output that
 * does not validate.
 */

/** A schema keyword the grammar cannot enforce, or a malformed schema. `path` is a JSON pointer into the schema. */
export class SchemaError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path === "" ? "the schema" : `the schema at ${path}`}: ${message}`);
  }
}

/** The largest length or item count a schema may name (see the module comment). */
export const maxBound = 1000;
/** The deepest nesting of schemas (properties, items, anyOf, …) accepted. */
export const maxDepth = 64;

const annotations = new Set(["title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly", "writeOnly"]);
const keywordsOf: Record<string, ReadonlySet<string>> = {
  object: new Set(["properties", "required", "additionalProperties"]),
  array: new Set(["items", "minItems", "maxItems"]),
  string: new Set(["minLength", "maxLength"]),
  number: new Set(),
  integer: new Set(),
  boolean: new Set(),
  null: new Set(),
};
const structural = new Set(["type", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "definitions"]);

const primitives: Record<string, string> = {
  ws: `| " "`,
  char: `[^"\\\\\\x7F\\x00-\\x1F] | escape`,
  // Printable ASCII: one character per code point and per UTF-16 unit, whatever bytes a vocabulary's tokens hold.
  ascii: `[ !#-\\[\\]-~] | escape`,
  // No lone surrogates.
  escape: `"\\\\" (["\\\\/bfnrt] | "u" ([0-9a-cA-CeEfF] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2}))`,
  string: `"\\"" char* "\\""`,
  // Exponents of at most two digits: a longer one can parse to Infinity.
  number: `"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?`,
  integer: `"-"? ("0" | [1-9] [0-9]{0,15})`,
  boolean: `"true" | "false"`,
  null: `"null"`,
  value: `object | array | string | number | boolean | null`,
  object: `"{" ws ( string ws ":" ws value ( ws "," ws string ws ":" ws value )* )? ws "}"`,
  array: `"[" ws ( value ( ws "," ws value )* )? ws "]"`,
};

/** A GBNF string literal for `text`. */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const char of text) {
    const code = char.codePointAt(0)!;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += char;
  }
  return `${out}"`;
}

/** Collects the rules of one grammar; {@link value} turns a schema into a rule, refusing what it cannot enforce. */
export class GrammarBuilder {
  private readonly rules = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  private root: Record<string, unknown> = {};
  private count = 0;

  /** A rule name for `schema` (a schema inside `root`, which holds its `$defs`). */
  value(schema: unknown, root: unknown = schema, path = "", depth = 0): string {
    if (root !== this.root) {
      this.root = typeof root === "object" && root !== null ? (root as Record<string, unknown>) : {};
      this.refs.clear();
    }
    return this.schema(schema, path, depth);
  }

  /** The grammar text: `root ::= body` and every rule it uses. */
  build(body: string): string {
    return [`root ::= ${body}`, ...[...this.rules].map(([name, rule]) => `${name} ::= ${rule}`)].join("\n") + "\n";
  }

  /** A primitive rule (string, number, value, …), added on first use. */
  primitive(name: keyof typeof primitives): string {
    if (this.rules.has(name)) return name;
    this.rules.set(name, primitives[name]!);
    for (const used of primitives[name]!.match(/\b[a-z]+\b/g) ?? []) if (used in primitives && used !== name) this.primitive(used as keyof typeof primitives);
    return name;
  }

  private add(body: string): string {
    const name = `r${this.count++}`;
    this.rules.set(name, body);
    return name;
  }

  private schema(schema: unknown, path: string, depth: number): string {
    if (depth > maxDepth) throw new SchemaError(path, `schemas nested deeper than ${maxDepth} levels are not supported`);
    if (schema === true) return this.primitive("value");
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) throw new SchemaError(path, "a schema must be an object or true");
    const s = schema as Record<string, unknown>;
    const types = s.type === undefined ? [] : Array.isArray(s.type) ? (s.type as unknown[]) : [s.type];
    for (const type of types) if (typeof type !== "string" || !(type in keywordsOf)) throw new SchemaError(`${path}/type`, `unknown type ${JSON.stringify(type)}`);
    const allowed = new Set([...annotations, ...structural, ...types.flatMap((type) => [...keywordsOf[type as string]!])]);
    // Without a type, object and array keywords imply their type (the output then satisfies them).
    if (types.length === 0 && (s.properties !== undefined || s.required !== undefined || s.additionalProperties !== undefined)) for (const k of keywordsOf.object!) allowed.add(k);
    if (types.length === 0 && (s.items !== undefined || s.minItems !== undefined || s.maxItems !== undefined)) for (const k of keywordsOf.array!) allowed.add(k);
    for (const key of Object.keys(s)) {
      if (!allowed.has(key)) throw new SchemaError(`${path}/${key}`, `"${key}" cannot be enforced by this server${key === "oneOf" ? " (a grammar cannot rule out matching two branches; use anyOf)" : ""}`);
    }

    // A keyword beside $ref, anyOf or allOf would be dropped; beside enum or const, only those that filter the values.
    const alone = (keyword: string, filters: ReadonlySet<string> = noFilters) => {
      for (const key of Object.keys(s)) {
        if (key !== keyword && !annotations.has(key) && key !== "$defs" && key !== "definitions" && !filters.has(key)) throw new SchemaError(`${path}/${key}`, `"${key}" cannot be combined with ${keyword}`);
      }
    };
    if (s.$ref !== undefined) {
      alone("$ref");
      return this.ref(s.$ref, `${path}/$ref`, depth);
    }
    if (s.const !== undefined || s.enum !== undefined) {
      const keyword = s.const !== undefined ? "const" : "enum";
      alone(keyword, valueFilters);
      if (keyword === "enum" && (!Array.isArray(s.enum) || s.enum.length === 0)) throw new SchemaError(`${path}/enum`, "enum must be a non-empty array");
      const given = keyword === "const" ? [s.const] : (s.enum as unknown[]);
      const values = given.filter((value) => fits(value, s, types as string[], path));
      if (values.length === 0) throw new SchemaError(`${path}/${keyword}`, `no ${keyword} value satisfies the schema's other keywords`);
      return this.add(values.map((value) => gbnfLiteral(JSON.stringify(value))).join(" | "));
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) throw new SchemaError(`${path}/anyOf`, "anyOf must be a non-empty array");
      if (types.length > 0) throw new SchemaError(`${path}/anyOf`, "anyOf cannot be combined with type");
      alone("anyOf");
      return this.add(s.anyOf.map((member, i) => this.schema(member, `${path}/anyOf/${i}`, depth + 1)).join(" | "));
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1 || types.length > 0) throw new SchemaError(`${path}/allOf`, "only an allOf of one schema (and no type beside it) can be enforced");
      alone("allOf");
      return this.schema(s.allOf[0], `${path}/allOf/0`, depth + 1);
    }
    const implied = types.length > 0 ? types : allowed.has("properties") ? ["object"] : allowed.has("items") ? ["array"] : [];
    if (implied.length === 0) return this.primitive("value");
    return this.add(implied.map((type) => this.typed(type as string, s, path, depth)).join(" | "));
  }

  private typed(type: string, s: Record<string, unknown>, path: string, depth: number): string {
    switch (type) {
      case "string":
        return this.stringRule(s, path);
      case "object":
        return this.objectRule(s, path, depth);
      case "array":
        return this.arrayRule(s, path, depth);
      default:
        return this.primitive(type as keyof typeof primitives);
    }
  }

  private stringRule(s: Record<string, unknown>, path: string): string {
    const min = count(s.minLength, `${path}/minLength`) ?? 0;
    const max = count(s.maxLength, `${path}/maxLength`);
    if (max !== undefined && max < min) throw new SchemaError(`${path}/maxLength`, "maxLength is below minLength");
    if (min === 0 && max === undefined) return this.primitive("string");
    // A length needs characters that count as one: llama.cpp's grammar takes some invalid UTF-8 (overlong
    // three-byte forms, surrogates) as one code point, which decodes to several U+FFFD.
    this.primitive("ascii");
    return `"\\"" ascii{${min},${max ?? ""}} "\\""`;
  }

  private objectRule(s: Record<string, unknown>, path: string, depth: number): string {
    const properties = s.properties ?? {};
    if (typeof properties !== "object" || properties === null || Array.isArray(properties)) throw new SchemaError(`${path}/properties`, "properties must be an object");
    const required = s.required ?? [];
    if (!Array.isArray(required) || !required.every((name) => typeof name === "string")) throw new SchemaError(`${path}/required`, "required must be an array of names");
    const declared = Object.entries(properties as Record<string, unknown>);
    // A required name without a declared schema may hold any value.
    for (const name of required as string[]) if (!(name in (properties as object))) declared.push([name, true]);
    const ws = this.primitive("ws");
    if (declared.length === 0) {
      const extra = s.additionalProperties;
      if (extra === false) return `"{" ${ws} "}"`;
      const value = extra === undefined || extra === true ? this.primitive("value") : this.schema(extra, `${path}/additionalProperties`, depth + 1);
      const key = this.primitive("string");
      const member = `${key} ${ws} ":" ${ws} ${value}`;
      return `"{" ${ws} ( ${member} ( ${ws} "," ${ws} ${member} )* )? ${ws} "}"`;
    }
    if (s.additionalProperties !== undefined && typeof s.additionalProperties !== "boolean") this.schema(s.additionalProperties, `${path}/additionalProperties`, depth + 1);
    const members = declared.map(([name, schema]) => `${gbnfLiteral(JSON.stringify(name))} ${ws} ":" ${ws} ${this.schema(schema, `${path}/properties/${escapePointer(name)}`, depth + 1)}`);
    return `"{" ${ws} ${members.join(` ${ws} "," ${ws} `)} ${ws} "}"`;
  }

  private arrayRule(s: Record<string, unknown>, path: string, depth: number): string {
    const item = s.items === undefined ? this.primitive("value") : this.schema(s.items, `${path}/items`, depth + 1);
    const min = count(s.minItems, `${path}/minItems`) ?? 0;
    const max = count(s.maxItems, `${path}/maxItems`);
    if (max !== undefined && max < min) throw new SchemaError(`${path}/maxItems`, "maxItems is below minItems");
    const ws = this.primitive("ws");
    if (max === 0) return `"[" ${ws} "]"`;
    const rest = `( ${ws} "," ${ws} ${item} ){${Math.max(0, min - 1)},${max === undefined ? "" : max - 1}}`;
    const items = `${item} ${rest}`;
    return `"[" ${ws} ${min === 0 ? `( ${items} )?` : items} ${ws} "]"`;
  }

  private ref(ref: unknown, path: string, depth: number): string {
    const match = typeof ref === "string" ? /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref) : null;
    if (match === null) throw new SchemaError(path, `only references to #/$defs/<name> or #/definitions/<name> are supported, got ${JSON.stringify(ref)}`);
    const known = this.refs.get(ref as string);
    if (known !== undefined) return known;
    const defs = this.root[match[1]!];
    const name = unescapePointer(match[2]!);
    const target = typeof defs === "object" && defs !== null ? (defs as Record<string, unknown>)[name] : undefined;
    if (target === undefined) throw new SchemaError(path, `${ref as string} does not exist`);
    // Named before it is built, so a recursive reference finds it.
    const rule = `r${this.count++}`;
    this.refs.set(ref as string, rule);
    this.rules.set(rule, "");
    this.rules.set(rule, this.schema(target, `/${match[1]}/${match[2]}`, depth + 1));
    return rule;
  }
}

function count(value: unknown, path: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > maxBound) {
    throw new SchemaError(path, `must be an integer from 0 to ${maxBound} (a larger bound cannot be enforced by llama.cpp's grammar)`);
  }
  return value;
}

const noFilters: ReadonlySet<string> = new Set();
/** The keywords that may stand beside enum or const: each value is checked against them. */
const valueFilters: ReadonlySet<string> = new Set(["type", "minLength", "maxLength", "minItems", "maxItems"]);

/** Whether an enum or const value satisfies the schema's `type` and length bounds (`types` empty: any type). */
function fits(value: unknown, s: Record<string, unknown>, types: readonly string[], path: string): boolean {
  const type = jsonType(value);
  if (types.length > 0 && !types.includes(type) && !(type === "integer" && types.includes("number"))) return false;
  const within = (size: number, min: string, max: string) => size >= (count(s[min], `${path}/${min}`) ?? 0) && size <= (count(s[max], `${path}/${max}`) ?? Number.POSITIVE_INFINITY);
  // JSON Schema counts a string's length in code points.
  if (typeof value === "string" && !within([...value].length, "minLength", "maxLength")) return false;
  if (Array.isArray(value) && !within(value.length, "minItems", "maxItems")) return false;
  return true;
}

function jsonType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

const escapePointer = (name: string) => name.replace(/~/g, "~0").replace(/\//g, "~1");
const unescapePointer = (name: string) => name.replace(/~1/g, "/").replace(/~0/g, "~");

/** A grammar whose output is one JSON value valid against `schema`; throws {@link SchemaError}. */
export function jsonSchemaGrammar(schema: unknown): string {
  const builder = new GrammarBuilder();
  return builder.build(builder.value(schema));
}

/** A grammar for any JSON object (`response_format: { type: "json_object" }`). */
export function jsonObjectGrammar(): string {
  const builder = new GrammarBuilder();
  return builder.build(builder.primitive("object"));
}
