import type { BackendModel } from "../backend/backend-model.js";
import { type ChatMessage, renderChat } from "./chat-template.js";

/** Options of {@link tokenizeChat}. */
export interface TokenizeChatOptions {
  /** End with the template's generation prompt (the assistant's turn). Defaults to true. */
  readonly addGenerationPrompt?: boolean;
  /**
   * Tokens to use for a message's content instead of tokenizing it — e.g. the exact tokens an earlier answer was
   * generated as, so the next turn continues the cached sequence token for token. Return undefined to tokenize.
   */
  readonly contentTokens?: (message: ChatMessage, index: number) => Int32Array | undefined;
  /** Function tools for the template (`tools`, OpenAI's shape). Defaults to none. */
  readonly tools?: readonly unknown[];
}

/** A tokenized chat. */
export interface ChatPrompt {
  readonly tokens: Int32Array;
  /** Token position where each message's content ends (checkpoint positions for later turns). */
  readonly messageEnds: readonly number[];
  /**
   * Whether message contents were tokenized as plain text, apart from the template's markup. False when the
   * template transformed the contents beyond recognition and the whole rendering was tokenized at once.
   */
  readonly contentsSeparated: boolean;
}

// Private-use characters: a template has no reason to produce or transform them.
const open = "\u{F8F0}";
const close = "\u{F8F1}";

/**
 * Renders and tokenizes a chat so that only the template's own markup can become special tokens: each message's
 * content is tokenized as plain text (a user writing `<|im_end|>` gets those characters, not the control token).
 * The template is rendered once with a marker in place of each content; the markup between markers is tokenized
 * with special tokens parsed, the contents without.
 */
export function tokenizeChat(model: BackendModel, template: string, messages: readonly ChatMessage[], options: TokenizeChatOptions = {}): ChatPrompt {
  const info = model.info;
  const special = (token: number) => (token >= 0 ? new TextDecoder().decode(model.tokenBytes(token, { special: true })) : "");
  const render = (contents: readonly ChatMessage[]) =>
    renderChat(template, contents, {
      addGenerationPrompt: options.addGenerationPrompt ?? true,
      bosToken: special(info.bosToken),
      eosToken: special(info.eosToken),
      ...(options.tools === undefined ? {} : { tools: options.tools }),
    });
  const marked = render(messages.map((message, i) => ({ ...message, content: `${open}${i}${close}` })));

  const pieces: { text: string; content?: number }[] = [];
  let at = 0;
  let separated = true;
  for (let i = 0; i < messages.length; i++) {
    const marker = `${open}${i}${close}`;
    const found = marked.indexOf(marker, at);
    if (found === -1 || marked.indexOf(marker, found + marker.length) !== -1) {
      separated = false;
      break;
    }
    pieces.push({ text: marked.slice(at, found) }, { text: messages[i]!.content, content: i });
    at = found + marker.length;
  }
  if (separated && marked.indexOf(open, at) === -1) pieces.push({ text: marked.slice(at) });
  else separated = false;
  // The template must use each content verbatim: the plain rendering is the marked one with contents put back.
  const plain = render(messages);
  if (separated && pieces.map((piece) => piece.text).join("") !== plain) separated = false;
  if (!separated) {
    return { tokens: model.tokenize(plain, { addSpecial: true, parseSpecial: true }), messageEnds: [], contentsSeparated: false };
  }

  // BOS as tokenize({ addSpecial: true }) would add it, unless the template wrote it itself.
  const bosText = special(info.bosToken);
  const tokens: number[] = info.addBos && info.bosToken >= 0 && !(bosText !== "" && marked.startsWith(bosText)) ? [info.bosToken] : [];
  const messageEnds: number[] = [];
  for (const piece of pieces) {
    if (piece.content === undefined) {
      if (piece.text.length > 0) tokens.push(...model.tokenize(piece.text, { addSpecial: false, parseSpecial: true }));
      continue;
    }
    const message = messages[piece.content]!;
    const given = options.contentTokens?.(message, piece.content);
    if (given !== undefined) tokens.push(...given);
    else if (piece.text.length > 0) tokens.push(...model.tokenize(piece.text, { addSpecial: false, parseSpecial: false }));
    messageEnds.push(tokens.length);
  }
  return { tokens: Int32Array.from(tokens), messageEnds, contentsSeparated: true };
}
