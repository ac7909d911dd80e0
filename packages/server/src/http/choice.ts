import type { FinishReason, StreamPart, Usage } from "@hybrid-llm/core";
import type { TokenLogprob } from "./logprobs.js";
import { type ToolCall, parseToolCalls } from "./tools.js";

/**
 * One choice of a completion: consumes an engine stream and tells the caller what to send (streaming) and what came
 * out (the finished choice). Content streams as it arrives, unless it may be a tool call: calls are held until they
 * are complete and go out parsed (an answer that turns out not to be one goes out as content).
 */

/** Whether an answer is content, tool calls, or — under `tool_choice: "auto"` — either (its first character decides). */
export type AnswerKind = "content" | "calls" | "either";

/** What to send for a streamed choice. */
export interface ChoiceDelta {
  readonly content?: string;
  readonly toolCalls?: readonly ToolCall[];
  /** Log-probabilities of the tokens since the last delta (empty unless the request asked for them). */
  readonly logprobs: readonly TokenLogprob[];
}

/** A finished choice. */
export interface ChoiceResult {
  readonly reason: FinishReason;
  readonly usage: Usage;
  /** The answer's text (also when it held tool calls). */
  readonly text: string;
  readonly tokens: readonly number[];
  readonly logprobs: readonly TokenLogprob[];
  /** The calls, when the answer was complete tool calls. */
  readonly toolCalls?: readonly ToolCall[];
  readonly error?: Error;
  /** performance.now() of the first token. */
  readonly firstTokenAt?: number;
}

/** Runs one choice's stream to its end; `onDelta` (streaming) is awaited for each delta. */
export async function runChoice(stream: AsyncIterable<StreamPart>, kind: AnswerKind, onDelta?: (delta: ChoiceDelta) => Promise<void>): Promise<ChoiceResult> {
  const tokens: number[] = [];
  const logprobs: TokenLogprob[] = [];
  let pending: TokenLogprob[] = [];
  let held = "";
  let mode = kind;
  let error: Error | undefined;
  let firstTokenAt: number | undefined;
  const flush = async (delta: Omit<ChoiceDelta, "logprobs">) => {
    const out = { ...delta, logprobs: pending };
    pending = [];
    await onDelta?.(out);
  };
  for await (const part of stream) {
    if (part.type === "token") {
      firstTokenAt ??= performance.now();
      tokens.push(part.token);
      const { logprob, topLogprobs } = part;
      if (logprob !== undefined) {
        const entry = { token: part.token, logprob, top: topLogprobs ?? [] };
        logprobs.push(entry);
        pending.push(entry);
      }
    } else if (part.type === "text-delta") {
      if (mode === "either" && held.length + part.text.length > 0) mode = (held + part.text).startsWith("<") ? "calls" : "content";
      if (mode === "content") {
        await flush({ content: held + part.text });
        held = "";
      } else held += part.text;
    } else if (part.type === "error") error = part.error;
    else if (part.type === "finish") {
      const toolCalls = mode !== "content" && part.reason === "stop" ? parseToolCalls(part.text) : undefined;
      if (part.reason === "stop" || part.reason === "length") {
        if (toolCalls !== undefined) await flush({ toolCalls });
        else if (held.length > 0 || pending.length > 0) await flush({ content: held });
      }
      return { reason: part.reason, usage: part.usage, text: part.text, tokens, logprobs, ...(toolCalls === undefined ? {} : { toolCalls }), ...(error === undefined ? {} : { error }), ...(firstTokenAt === undefined ? {} : { firstTokenAt }) };
    }
  }
  throw new Error("the stream ended without finishing");
}
