import type { AnswerKind } from "./choice.js";
import { SchemaError, jsonObjectGrammar, jsonSchemaGrammar } from "./json-schema-grammar.js";
import { RequestError } from "./request-error.js";
import type { ToolRequest } from "./tools.js";

/** What a request's answer looks like, besides sampling: how many choices, logprobs, the grammar it must follow. */
export interface RequestShape {
  /** Choices (`n`). */
  readonly n: number;
  /** Alternatives per token when log-probabilities were asked for; undefined when not. */
  readonly logprobs?: number;
  /** GBNF the answer must follow (response_format, tools, or a raw `grammar`). */
  readonly grammar?: string;
  /** The request field the grammar came from: a grammar the server built (response_format, tools) is not the client's `grammar`. */
  readonly grammarField?: "response_format" | "tools" | "grammar";
  /** Whether the answer is content or tool calls (see choice.ts). */
  readonly answer: AnswerKind;
}

/** The largest `n`: choices run as separate requests sharing the prompt through the prefix cache. */
export const maxChoices = 16;

const bad = (param: string, message: string): never => {
  throw new RequestError(400, message, "invalid_request_error", param);
};

/**
 * The shape of a chat (`kind` "chat") or completions ("text") request, checked: `n` 1-16; chat `logprobs: true` with
 * `top_logprobs` 0-20, completions `logprobs` 0-5; one of `response_format` (text, json_object, json_schema), tools
 * with a grammar, or a raw `grammar` (llama-server's extension).
 */
export function requestShape(body: Record<string, unknown>, kind: "chat" | "text", tools: ToolRequest | undefined): RequestShape {
  const n = body.n ?? 1;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > maxChoices) return bad("n", `n must be an integer from 1 to ${maxChoices}, got ${JSON.stringify(n)}`);

  let logprobs: number | undefined;
  if (kind === "chat") {
    const wanted = body.logprobs ?? false;
    if (typeof wanted !== "boolean") bad("logprobs", "logprobs must be true or false");
    const top = body.top_logprobs ?? undefined;
    if (top !== undefined && (typeof top !== "number" || !Number.isInteger(top) || top < 0 || top > 20)) bad("top_logprobs", `top_logprobs must be an integer from 0 to 20, got ${JSON.stringify(top)}`);
    if (top !== undefined && wanted !== true) bad("top_logprobs", "top_logprobs needs logprobs: true");
    if (wanted === true) logprobs = typeof top === "number" ? top : 0;
  } else {
    const wanted = body.logprobs ?? undefined;
    if (wanted !== undefined && (typeof wanted !== "number" || !Number.isInteger(wanted) || wanted < 0 || wanted > 5)) bad("logprobs", `logprobs must be an integer from 0 to 5, got ${JSON.stringify(wanted)}`);
    logprobs = wanted as number | undefined;
  }

  const grammars: { field: "response_format" | "tools" | "grammar"; grammar: string }[] = [];
  const format = responseFormatGrammar(body.response_format);
  if (format !== undefined) grammars.push({ field: "response_format", grammar: format });
  if (tools?.grammar !== undefined) grammars.push({ field: "tools", grammar: tools.grammar });
  if (body.grammar !== undefined && body.grammar !== null) {
    if (typeof body.grammar !== "string" || body.grammar.trim().length === 0) bad("grammar", "grammar must be GBNF text (start rule root)");
    grammars.push({ field: "grammar", grammar: body.grammar as string });
  }
  if (grammars.length > 1) bad(grammars[1]!.field, `${grammars.map((g) => g.field).join(" and ")} each constrain the answer; give one (tool_choice "none" leaves tools unconstrained)`);

  const choice = tools?.choice;
  const answer: AnswerKind = choice === undefined || choice === "none" ? "content" : choice === "auto" ? "either" : "calls";
  return { n, answer, ...(logprobs === undefined ? {} : { logprobs }), ...(grammars[0] === undefined ? {} : { grammar: grammars[0].grammar, grammarField: grammars[0].field }) };
}

/** The grammar of `response_format`; undefined for none or `{ type: "text" }`. */
function responseFormatGrammar(format: unknown): string | undefined {
  if (format === undefined || format === null) return undefined;
  if (typeof format !== "object" || Array.isArray(format)) return bad("response_format", 'response_format must be { type: "text" | "json_object" | "json_schema", … }');
  const { type, json_schema: spec, ...rest } = format as Record<string, unknown>;
  if (Object.keys(rest).length > 0) bad("response_format", `response_format.${Object.keys(rest)[0]} is not supported by this server`);
  if (type === "text" || type === "json_object") {
    if (spec !== undefined) bad("response_format", `response_format.json_schema goes with type "json_schema", not "${type}"`);
    return type === "text" ? undefined : jsonObjectGrammar();
  }
  if (type !== "json_schema") return bad("response_format", `response_format.type must be "text", "json_object" or "json_schema", got ${JSON.stringify(type)}`);
  if (typeof spec !== "object" || spec === null || Array.isArray(spec)) return bad("response_format", "response_format.json_schema must be { name, schema, strict?, description? }");
  const { name, schema, strict, description, ...unknown } = spec as Record<string, unknown>;
  if (Object.keys(unknown).length > 0) bad("response_format", `response_format.json_schema.${Object.keys(unknown)[0]} is not supported by this server`);
  if (typeof name !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(name)) bad("response_format", "response_format.json_schema.name must be 1-64 letters, digits, '_' or '-'");
  if (strict !== undefined && strict !== null && typeof strict !== "boolean") bad("response_format", "response_format.json_schema.strict must be true or false");
  if (description !== undefined && typeof description !== "string") bad("response_format", "response_format.json_schema.description must be a string");
  try {
    // Strict or not, the grammar enforces the whole schema (or refuses it).
    return jsonSchemaGrammar(schema ?? {});
  } catch (error) {
    if (error instanceof SchemaError) return bad("response_format", `response_format.json_schema.schema: ${error.message}`);
    throw error;
  }
}
