import { Template } from "@huggingface/jinja";
import { InvalidArgumentError } from "../errors/invalid-argument-error.js";

/** One chat message. */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant" | "tool";
  readonly content: string;
  /** An assistant's function calls, in OpenAI's shape (arguments as an object), for templates that render them. */
  readonly tool_calls?: readonly unknown[];
  /** A tool message's call id. */
  readonly tool_call_id?: string;
}

/**
 * Renders messages with a model's Jinja chat template (`tokenizer.chat_template`), the way Hugging Face's
 * `apply_chat_template` does, ready to tokenize with special tokens parsed.
 */
export function renderChat(
  template: string,
  messages: readonly ChatMessage[],
  options: {
    readonly addGenerationPrompt?: boolean;
    readonly bosToken?: string;
    readonly eosToken?: string;
    /** Function tools in OpenAI's shape, for templates that render them (`tools`). Defaults to none. */
    readonly tools?: readonly unknown[];
  } = {},
): string {
  let compiled: Template;
  try {
    compiled = new Template(template);
  } catch (error) {
    throw new InvalidArgumentError({ argument: "chatTemplate", message: `the chat template does not parse: ${(error as Error).message}`, cause: error });
  }
  return compiled.render({
    messages: messages.map((message) => ({ ...message })),
    add_generation_prompt: options.addGenerationPrompt ?? true,
    bos_token: options.bosToken ?? "",
    eos_token: options.eosToken ?? "",
    ...(options.tools === undefined ? {} : { tools: options.tools }),
  });
}
