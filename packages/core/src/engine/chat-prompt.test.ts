import { describe, expect, test } from "vitest";
import { MockBackend } from "../testing/mock-backend.js";
import { tokenizeChat } from "./chat-prompt.js";

describe("tokenizeChat", () => {
  const messages = [
    { role: "system", content: "be brief" },
    { role: "user", content: "hi" },
    { role: "assistant", content: "hello" },
    { role: "user", content: "bye" },
  ] as const;

  test("tokens equal tokenizing the rendered text; message ends are token positions; answers can be spliced in", async () => {
    const model = await new MockBackend().loadModel();
    const template = model.info.chatTemplate!;
    const chat = tokenizeChat(model, template, messages);
    expect(chat.contentsSeparated).toBe(true);
    const whole = model.tokenize("system: be brief\nuser: hi\nassistant: hello\nuser: bye\nassistant: ");
    expect([...chat.tokens]).toEqual([...whole]);
    // BOS, then "system: " (8) + "be brief" (8) → 17; "\nuser: " (7) + "hi" (2) → 26; "\nassistant: " (12) + …
    expect(chat.messageEnds).toEqual([17, 26, 43, 53]);
    const spliced = tokenizeChat(model, template, messages, { contentTokens: (m) => (m.role === "assistant" ? Int32Array.of(200, 201) : undefined) });
    expect([...spliced.tokens.subarray(38, 40)]).toEqual([200, 201]);
    expect(spliced.messageEnds[2]).toBe(40);
  });

  test("a template that transforms contents falls back to tokenizing the whole rendering", async () => {
    const model = await new MockBackend().loadModel();
    const chat = tokenizeChat(model, "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}", messages);
    expect(chat.contentsSeparated).toBe(false);
    expect(model.detokenize(chat.tokens.subarray(1))).toBe("BE BRIEFHIHELLOBYE");
  });
});
