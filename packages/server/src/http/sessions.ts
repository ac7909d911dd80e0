import { mkdir, readFile, readdir, rename, writeFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { join, resolve } from "node:path";
import { type ChatMessage, type ChatPrompt, type Engine, InvalidArgumentError, InvalidSessionError } from "@hybrid-llm/core";
import type { Context, Hono } from "hono";
import type { AnswerTokens } from "./answer-tokens.js";
import { RequestError } from "./request-error.js";
import type { ChatCompletionBody } from "./openai-types.js";

/** What the session routes need from the server. */
export interface SessionRouteDeps {
  readonly engine: Engine;
  readonly answers: AnswerTokens;
  /** Where session files live; nothing outside it is read or written. */
  readonly directory: string;
  /** Reads and checks a JSON body (size, known fields, model). */
  readonly readBody: (c: Context) => Promise<Record<string, unknown>>;
  /** A conversation's tokens, answers spliced in as generated, without a generation prompt. */
  readonly chatTokens: (body: { messages: ChatCompletionBody["messages"] }) => { messages: ChatMessage[]; chat: ChatPrompt };
}

/** Session names: letters, digits, `.`, `_`, `-`; no leading dot; at most 64 characters (so never a path). */
const namePattern = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
const extension = ".session";

/**
 * Saved sessions over HTTP. `POST /v1/sessions/{name}/save` with `{ model, messages }` (the chat so far, the last
 * answer included) or `{ model, prompt }` (a completion's prompt and text) writes that conversation's cache to
 * `{directory}/{name}.session`; `POST /v1/sessions/{name}/restore` with `{ model }` loads it back (in this process
 * or a later one) so the next request that continues the conversation resumes from it; `GET /v1/sessions` lists
 * them. Names are checked before any path is formed; files are written to a temporary name and renamed.
 */
export function registerSessionRoutes(app: Hono, deps: SessionRouteDeps): void {
  const { engine, answers } = deps;
  const directory = resolve(deps.directory);
  const fileOf = (name: string) => {
    if (!namePattern.test(name) || name.includes("..")) {
      throw new RequestError(400, "a session name is 1-64 letters, digits, '.', '_' or '-', not starting with '.'", "invalid_request_error", "name");
    }
    const path = resolve(directory, name + extension);
    if (!path.startsWith(directory + "/") && !path.startsWith(directory + "\\")) throw new RequestError(400, "invalid session name", "invalid_request_error", "name");
    return path;
  };

  app.get("/v1/sessions", async (c) => {
    const names = await readdir(directory).catch(() => [] as string[]);
    return c.json({ object: "list", data: names.filter((n) => n.endsWith(extension)).map((n) => ({ id: n.slice(0, -extension.length), object: "session" })) });
  });

  app.post("/v1/sessions/:name/save", async (c) => {
    const path = fileOf(c.req.param("name"));
    const body = await deps.readBody(c);
    let tokens: Int32Array;
    const saved: { text: string; tokens: number[] }[] = [];
    if (body.messages !== undefined) {
      const { messages, chat } = deps.chatTokens(body as { messages: ChatCompletionBody["messages"] });
      tokens = chat.tokens;
      // The answers' exact tokens go along, so a later process splices them back in the same way.
      for (const message of messages) {
        const exact = message.role === "assistant" ? answers.lookup(message.content) : undefined;
        if (exact !== undefined) saved.push({ text: message.content, tokens: Array.from(exact) });
      }
    } else if (typeof body.prompt === "string" && body.prompt.length > 0) {
      tokens = engine.model.tokenize(body.prompt);
    } else {
      throw new RequestError(400, "give the conversation as messages (chat) or prompt (completion text)", "invalid_request_error", "messages");
    }
    let bytes: Uint8Array;
    try {
      bytes = await engine.saveSession(tokens, { metadata: { answers: saved } });
    } catch (error) {
      if (InvalidArgumentError.isInstance(error)) throw new RequestError(404, error.message, "invalid_request_error", "messages", "session_not_cached");
      throw error;
    }
    await mkdir(directory, { recursive: true });
    // A name of its own per write: concurrent saves of one session must not rename each other's files away.
    const temporary = join(directory, `.${c.req.param("name")}.${randomUUID()}.tmp`);
    await writeFile(temporary, bytes);
    await rename(temporary, path);
    return c.json({ id: c.req.param("name"), object: "session", bytes: bytes.length });
  });

  app.post("/v1/sessions/:name/restore", async (c) => {
    const path = fileOf(c.req.param("name"));
    await deps.readBody(c);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch {
      throw new RequestError(404, `no session named ${JSON.stringify(c.req.param("name"))}`, "invalid_request_error", "name", "session_not_found");
    }
    let restored: Awaited<ReturnType<Engine["restoreSession"]>>;
    try {
      restored = await engine.restoreSession(bytes);
    } catch (error) {
      if (InvalidSessionError.isInstance(error)) throw new RequestError(400, error.message, "invalid_request_error", "name", `session_${error.reason}`);
      throw error;
    }
    const metadata = restored.metadata as { answers?: { text: string; tokens: number[] }[] } | null;
    for (const answer of Array.isArray(metadata?.answers) ? metadata.answers : []) {
      if (typeof answer?.text === "string" && Array.isArray(answer.tokens)) {
        answers.remember(answer.text, Int32Array.from(answer.tokens), (t) => engine.model.detokenize(t));
      }
    }
    return c.json({ id: c.req.param("name"), object: "session", tokens: restored.tokens.length });
  });
}
