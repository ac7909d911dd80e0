import type { ChatMessage } from "@hybrid-llm/core";
import { RequestError } from "./request-error.js";

/** A chat message as the server takes it from a request: text content, an assistant's calls, a tool's call id. */
export interface GivenMessage {
  readonly role: ChatMessage["role"];
  readonly content: string;
  /** An assistant's earlier calls; `arguments` parsed from their JSON text (kept as text when it is not JSON). */
  readonly toolCalls?: readonly { readonly id: string; readonly name: string; readonly arguments: unknown }[];
  /** A tool message's answer to this call. */
  readonly tool_call_id?: string;
}

const baseKeys: ReadonlySet<string> = new Set(["role", "content"]);
const assistantKeys: ReadonlySet<string> = new Set([...baseKeys, "tool_calls"]);
const toolKeys: ReadonlySet<string> = new Set([...baseKeys, "tool_call_id"]);
const roles = new Set(["system", "user", "assistant", "tool", "developer"]);
const bad = (message: string): never => {
  throw new RequestError(400, message, "invalid_request_error", "messages");
};

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (content === null || content === undefined) return "";
  if (!Array.isArray(content)) return bad("message content must be a string or an array of text parts");
  return content
    .map((part: { type?: unknown; text?: unknown } | null) => {
      if (part?.type !== "text" || typeof part.text !== "string") bad("only text content parts are supported");
      return part!.text as string;
    })
    .join("");
}

/**
 * The messages of a chat request, checked (`developer` is treated as `system`). A message holds `role`, `content`,
 * an assistant's `tool_calls` and a tool's `tool_call_id`; any other key with a value (`name`: chat templates have no
 * place for it) is a 400 naming it.
 */
export function chatMessages(messages: unknown): GivenMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) bad("messages must be a non-empty array");
  return (messages as unknown[]).map((message, i) => {
    if (typeof message !== "object" || message === null || !roles.has((message as { role?: string }).role as string)) {
      bad("each message needs a role of system, user, assistant, tool or developer");
    }
    const m = message as Record<string, unknown>;
    const role = (m.role === "developer" ? "system" : m.role) as ChatMessage["role"];
    // A key the prompt would not carry (`name`, an assistant's `refusal`, …) is refused, not dropped; null is absent.
    const known = role === "tool" ? toolKeys : role === "assistant" ? assistantKeys : baseKeys;
    for (const [key, value] of Object.entries(m)) {
      if (!known.has(key) && value !== null && value !== undefined) {
        throw new RequestError(400, `messages[${i}].${key} is not supported by this server`, "invalid_request_error", `messages[${i}].${key}`, "unsupported_parameter");
      }
    }
    const content = messageText(m.content);
    if (role === "tool") {
      if (typeof m.tool_call_id !== "string") bad(`messages[${i}]: a tool message needs tool_call_id`);
      return { role, content, tool_call_id: m.tool_call_id as string };
    }
    if (m.tool_calls === undefined || m.tool_calls === null) return { role, content };
    if (role !== "assistant" || !Array.isArray(m.tool_calls)) return bad(`messages[${i}]: tool_calls belong to assistant messages, as an array`);
    const toolCalls = (m.tool_calls as unknown[]).map((call) => {
      const c = call as { id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;
      if (c?.type !== "function" || typeof c.id !== "string" || typeof c.function?.name !== "string" || typeof c.function.arguments !== "string") {
        bad(`messages[${i}].tool_calls: each call needs id, type "function" and function { name, arguments (a JSON string) }`);
      }
      let args: unknown = c!.function!.arguments;
      try {
        args = JSON.parse(c!.function!.arguments as string);
      } catch {
        // Kept as the text the client sent.
      }
      return { id: c!.id as string, name: c!.function!.name as string, arguments: args };
    });
    return { role, content, toolCalls };
  });
}
