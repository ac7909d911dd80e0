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
 * `allOf` with one member, `$ref` to `#/$defs/…` or `#/definitions/…` (recursion included), and the annotations
 * `title`, `description`, `default`, `examples`, `$schema`, `$id`, `$comment`, `deprecated`, `readOnly`,
 * `writeOnly`. Everything else (`pattern`, `format`, `minimum`, `oneOf`, `uniqueItems`, …) is refused.
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
  value(schema: unknown, root: unknown = schema, path = ""): string {
    if (root !== this.root) {
      this.root = typeof root === "object" && root !== null ? (root as Record<string, unknown>) : {};
      this.refs.clear();
    }
    return this.schema(schema, path);
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

  private schema(schema: unknown, path: string): string {
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

    if (s.$ref !== undefined) {
      if (Object.keys(s).some((key) => !annotations.has(key) && key !== "$ref" && key !== "$defs" && key !== "definitions")) throw new SchemaError(path, "$ref cannot be combined with other keywords");
      return this.ref(s.$ref, `${path}/$ref`);
    }
    if (s.const !== undefined) return this.add(gbnfLiteral(JSON.stringify(s.const)));
    if (s.enum !== undefined) {
      if (!Array.isArray(s.enum) || s.enum.length === 0) throw new SchemaError(`${path}/enum`, "enum must be a non-empty array");
      const allowedTypes = types.length === 0 ? undefined : new Set(types);
      const values = s.enum.filter((value) => allowedTypes === undefined || allowedTypes.has(jsonType(value)) || (allowedTypes.has("number") && jsonType(value) === "integer"));
      if (values.length === 0) throw new SchemaError(`${path}/enum`, "no enum value has the schema's type");
      return this.add(values.map((value) => gbnfLiteral(JSON.stringify(value))).join(" | "));
    }
    if (s.anyOf !== undefined) {
      if (!Array.isArray(s.anyOf) || s.anyOf.length === 0) throw new SchemaError(`${path}/anyOf`, "anyOf must be a non-empty array");
      if (types.length > 0) throw new SchemaError(`${path}/anyOf`, "anyOf cannot be combined with type");
      return this.add(s.anyOf.map((member, i) => this.schema(member, `${path}/anyOf/${i}`)).join(" | "));
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1 || types.length > 0) throw new SchemaError(`${path}/allOf`, "only an allOf of one schema (and no type beside it) can be enforced");
      return this.schema(s.allOf[0], `${path}/allOf/0`);
    }
    const implied = types.length > 0 ? types : allowed.has("properties") ? ["object"] : allowed.has("items") ? ["array"] : [];
    if (implied.length === 0) return this.primitive("value");
    return this.add(implied.map((type) => this.typed(type as string, s, path)).join(" | "));
  }

  private typed(type: string, s: Record<string, unknown>, path: string): string {
    switch (type) {
      case "string":
        return this.stringRule(s, path);
      case "object":
        return this.objectRule(s, path);
      case "array":
        return this.arrayRule(s, path);
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

  private objectRule(s: Record<string, unknown>, path: string): string {
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
      const value = extra === undefined || extra === true ? this.primitive("value") : this.schema(extra, `${path}/additionalProperties`);
      const key = this.primitive("string");
      const member = `${key} ${ws} ":" ${ws} ${value}`;
      return `"{" ${ws} ( ${member} ( ${ws} "," ${ws} ${member} )* )? ${ws} "}"`;
    }
    if (s.additionalProperties !== undefined && typeof s.additionalProperties !== "boolean") this.schema(s.additionalProperties, `${path}/additionalProperties`);
    const members = declared.map(([name, schema]) => `${gbnfLiteral(JSON.stringify(name))} ${ws} ":" ${ws} ${this.schema(schema, `${path}/properties/${escapePointer(name)}`)}`);
    return `"{" ${ws} ${members.join(` ${ws} "," ${ws} `)} ${ws} "}"`;
  }

  private arrayRule(s: Record<string, unknown>, path: string): string {
    const item = s.items === undefined ? this.primitive("value") : this.schema(s.items, `${path}/items`);
    const min = count(s.minItems, `${path}/minItems`) ?? 0;
    const max = count(s.maxItems, `${path}/maxItems`);
    if (max !== undefined && max < min) throw new SchemaError(`${path}/maxItems`, "maxItems is below minItems");
    const ws = this.primitive("ws");
    if (max === 0) return `"[" ${ws} "]"`;
    const rest = `( ${ws} "," ${ws} ${item} ){${Math.max(0, min - 1)},${max === undefined ? "" : max - 1}}`;
    const items = `${item} ${rest}`;
    return `"[" ${ws} ${min === 0 ? `( ${items} )?` : items} ${ws} "]"`;
  }

  private ref(ref: unknown, path: string): string {
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
    this.rules.set(rule, this.schema(target, `/${match[1]}/${match[2]}`));
    return rule;
  }
}

function count(value: unknown, path: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 10_000) throw new SchemaError(path, "must be an integer from 0 to 10000");
  return value;
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
