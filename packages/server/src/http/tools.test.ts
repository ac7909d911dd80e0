import { describe, expect, test } from "vitest";
import { parseToolCalls, toolCallsText, toolRequest } from "./tools.js";

const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };

describe("tool calls", () => {
  test("parses one or more complete call blocks; anything else (text, a cut call, bad JSON) is not calls", () => {
    const one = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>';
    expect(parseToolCalls(one)).toMatchObject([{ type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }]);
    const two = parseToolCalls(`${one}\n${one.replace("Oslo", "Rome")}`)!;
    expect(two.map((call) => call.function.arguments)).toEqual(['{"city":"Oslo"}', '{"city":"Rome"}']);
    expect(two[0]!.id).not.toBe(two[1]!.id);
    expect(parseToolCalls('<tool_call>\n{"name": "f"}\n</tool_call>')![0]!.function.arguments).toBe("{}");
    for (const text of ["Sunny.", one.slice(0, -3), `${one}\n`, `${one}\n<tool_call>\n{"name"`, '<tool_call>\n{"name": 5}\n</tool_call>', "<tool_call>\n{oops}\n</tool_call>", `x${one}`]) {
      expect(parseToolCalls(text), text).toBeUndefined();
    }
  });

  test("history calls render back in the format they are parsed from", () => {
    const text = toolCallsText([{ name: "get_weather", arguments: { city: "Oslo" } }]);
    expect(parseToolCalls(text)![0]!.function).toEqual({ name: "get_weather", arguments: '{"city":"Oslo"}' });
  });

  test("tool_choice picks the grammar: none (no grammar), required (calls, one unless parallel), named (that one), auto (text or calls)", () => {
    expect(toolRequest({})).toBeUndefined();
    expect(toolRequest({ tools: [] })).toBeUndefined();
    expect(toolRequest({ tools: [weather], tool_choice: "none" })).not.toHaveProperty("grammar");
    const required = toolRequest({ tools: [weather], tool_choice: "required" })!.grammar!;
    expect(required.split("\n")[0]).toMatch(/^root ::= \( .+ \) \( "\\n" \( .+ \) \)\*$/);
    const single = toolRequest({ tools: [weather], tool_choice: "required", parallel_tool_calls: false })!.grammar!;
    expect(single.split("\n")[0]).not.toMatch(/\*$/);
    const named = toolRequest({ tools: [weather, { type: "function", function: { name: "noop" } }], tool_choice: { type: "function", function: { name: "noop" } } })!.grammar!;
    expect(named.split("\n")[0]).toContain('\\"name\\": \\"noop\\"');
    expect(named.split("\n")[0]).not.toContain("get_weather");
    expect(toolRequest({ tools: [weather] })!.grammar!.split("\n")[0]).toMatch(/\| \[\^<\] \.\*$/);
  });
});
