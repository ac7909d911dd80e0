import { randomUUID } from "node:crypto";
import { GrammarBuilder, SchemaError, gbnfLiteral } from "./json-schema-grammar.js";
import { RequestError } from "./request-error.js";

/**
 * Function calling (`tools`, `tool_choice`, `parallel_tool_calls`).
 *
 * A call is written in the Hermes / Qwen format, one per block:
 * `<tool_call>\n{"name": "<function>", "arguments": {…}}\n</tool_call>`, blocks separated by a newline. The tools
 * reach the model through its chat template (`tools`, OpenAI's shape); a template that does not use `tools` (plain
 * ChatML) gets them in a system message instead, which also describes the format.
 *
 * The output is constrained by a grammar so a call always parses and its arguments validate against the function's
 * JSON schema:
 * - `required`: one or more calls (exactly one with `parallel_tool_calls: false`) to any of the tools;
 * - `{ type: "function", function: { name } }`: exactly one call to that function;
 * - `auto` (the default with tools): either text that does not start with `<`, or calls as for `required`. The
 *   first character decides, so a streamed answer starting with anything else streams as content at once;
 * - `none`: no grammar; the answer is plain content.
 */

/** One function a client offers. */
export interface FunctionTool {
  readonly name: string;
  readonly description?: string;
  /** A JSON schema of the arguments object. Defaults to no arguments (`{}`). */
  readonly parameters?: unknown;
}

/** What a request asks for with `tools`. */
export interface ToolRequest {
  readonly tools: readonly FunctionTool[];
  readonly choice: "none" | "auto" | "required" | { readonly name: string };
  readonly parallel: boolean;
  /** The tools as OpenAI sends them, for the chat template's `tools`. */
  readonly templateTools: readonly unknown[];
  /** The grammar constraining the answer; undefined for `none`. */
  readonly grammar?: string;
}

/** A parsed call, in OpenAI's response shape. */
export interface ToolCall {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

export const toolCallOpen = "<tool_call>";
const toolCallClose = "</tool_call>";
const namePattern = /^[A-Za-z0-9_-]{1,64}$/;

const bad = (param: string, message: string): never => {
  throw new RequestError(400, message, "invalid_request_error", param);
};

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The tools of a request body, checked, with the grammar its `tool_choice` needs; undefined when it has none. */
export function toolRequest(body: Record<string, unknown>): ToolRequest | undefined {
  const { tools: given, tool_choice: choiceField, parallel_tool_calls: parallelField } = body;
  if (parallelField !== undefined && parallelField !== null && typeof parallelField !== "boolean") bad("parallel_tool_calls", "parallel_tool_calls must be true or false");
  if (given === undefined || given === null || (Array.isArray(given) && given.length === 0)) {
    if (choiceField !== undefined && choiceField !== null && choiceField !== "none" && choiceField !== "auto") bad("tool_choice", "tool_choice needs tools");
    return undefined;
  }
  if (!Array.isArray(given) || given.length > 128) bad("tools", "tools must be an array of at most 128 function tools");
  const tools: FunctionTool[] = (given as unknown[]).map((tool, i) => {
    if (!isObject(tool) || tool.type !== "function" || !isObject(tool.function)) bad("tools", `tools[${i}] must be { type: "function", function: { name, description?, parameters? } }`);
    const fn = (tool as { function: Record<string, unknown> }).function;
    for (const key of Object.keys(tool as object)) if (key !== "type" && key !== "function") bad("tools", `tools[${i}].${key} is not supported by this server`);
    for (const key of Object.keys(fn)) if (!["name", "description", "parameters", "strict"].includes(key)) bad("tools", `tools[${i}].function.${key} is not supported by this server`);
    if (typeof fn.name !== "string" || !namePattern.test(fn.name)) bad("tools", `tools[${i}].function.name must be 1-64 letters, digits, '_' or '-'`);
    if (fn.description !== undefined && typeof fn.description !== "string") bad("tools", `tools[${i}].function.description must be a string`);
    if (fn.strict !== undefined && fn.strict !== null && typeof fn.strict !== "boolean") bad("tools", `tools[${i}].function.strict must be true or false`);
    return { name: fn.name as string, ...(fn.description === undefined ? {} : { description: fn.description as string }), ...(fn.parameters === undefined ? {} : { parameters: fn.parameters }) };
  });
  const names = new Set(tools.map((tool) => tool.name));
  if (names.size !== tools.length) bad("tools", "function names must be unique");

  let choice: ToolRequest["choice"] = "auto";
  if (choiceField === "none" || choiceField === "auto" || choiceField === "required") choice = choiceField;
  else if (isObject(choiceField) && choiceField.type === "function" && isObject(choiceField.function) && typeof choiceField.function.name === "string") {
    if (!names.has(choiceField.function.name)) bad("tool_choice", `tool_choice names ${JSON.stringify(choiceField.function.name)}, which is not among the tools`);
    choice = { name: choiceField.function.name };
  } else if (choiceField !== undefined && choiceField !== null) bad("tool_choice", 'tool_choice must be "none", "auto", "required" or { type: "function", function: { name } }');

  const parallel = parallelField !== false;
  const request = { tools, choice, parallel, templateTools: given as unknown[] };
  return choice === "none" ? request : { ...request, grammar: toolGrammar(request) };
}

/** The grammar for a request's calls (see the module comment). Argument schemas it cannot enforce are a 400. */
function toolGrammar(request: Omit<ToolRequest, "grammar">): string {
  const builder = new GrammarBuilder();
  const callOf = (tool: FunctionTool, i: number) => {
    let args: string;
    try {
      args = builder.value(tool.parameters ?? { type: "object", properties: {}, additionalProperties: false });
    } catch (error) {
      if (error instanceof SchemaError) bad("tools", `tools[${i}].function.parameters: ${error.message}`);
      throw error;
    }
    return `${gbnfLiteral(`${toolCallOpen}\n{"name": ${JSON.stringify(tool.name)}, "arguments": `)} ${args} ${gbnfLiteral(`}\n${toolCallClose}`)}`;
  };
  const { choice } = request;
  if (typeof choice === "object") {
    const i = request.tools.findIndex((tool) => tool.name === choice.name);
    return builder.build(callOf(request.tools[i]!, i));
  }
  const calls = request.tools.map(callOf);
  const call = calls.length === 1 ? `( ${calls[0]} )` : `( ${calls.join(" | ")} )`;
  const sequence = request.parallel ? `${call} ( "\\n" ${call} )*` : call;
  if (choice === "required") return builder.build(sequence);
  // auto: free text that cannot be mistaken for a call, or calls.
  return builder.build(`( ${sequence} ) | [^<] .*`);
}

/**
 * The calls in an answer generated under a tool grammar, or undefined when it is text (auto mode) or incomplete
 * (cut by max_tokens): then it is returned as content.
 */
export function parseToolCalls(text: string): ToolCall[] | undefined {
  if (!text.startsWith(toolCallOpen)) return undefined;
  const calls: ToolCall[] = [];
  if (!text.endsWith(toolCallClose)) return undefined;
  // Blocks are joined by "\n": splitting on the close tag and its newline leaves each block without its close tag.
  for (const block of text.slice(0, -toolCallClose.length).split(`${toolCallClose}\n`)) {
    const body = block;
    if (!body.startsWith(`${toolCallOpen}\n`) || !body.endsWith("\n")) return undefined;
    let call: unknown;
    try {
      call = JSON.parse(body.slice(toolCallOpen.length + 1, -1));
    } catch {
      return undefined;
    }
    if (!isObject(call) || typeof call.name !== "string") return undefined;
    calls.push({ id: `call_${randomUUID().replace(/-/g, "").slice(0, 24)}`, type: "function", function: { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) } });
  }
  return calls.length > 0 ? calls : undefined;
}

/** True when a chat template renders `tools` itself. */
export function templateUsesTools(template: string): boolean {
  return /\btools\b/.test(template);
}

/** The system message describing the tools, for a template that does not render `tools`. */
export function toolSystemPrompt(request: ToolRequest): string {
  const signatures = request.tools.map((tool) => JSON.stringify({ type: "function", function: tool })).join("\n");
  return (
    "You may call one or more functions to assist with the user query. The functions:\n<tools>\n" +
    `${signatures}\n</tools>\n` +
    `To call a function, answer with one block per call:\n${toolCallOpen}\n{"name": <function-name>, "arguments": <args-json-object>}\n${toolCallClose}`
  );
}

/** An assistant message's calls as text in the format above (history for a template that does not render tools). */
export function toolCallsText(calls: readonly { readonly name: string; readonly arguments: unknown }[]): string {
  return calls.map((call) => `${toolCallOpen}\n${JSON.stringify({ name: call.name, arguments: call.arguments })}\n${toolCallClose}`).join("\n");
}
