/** The subset of OpenAI's request bodies the server reads (validated by hand: bad input gets a 400, never a crash). */
export interface ChatCompletionBody {
  readonly model?: string;
  readonly messages: readonly { readonly role: string; readonly content: string | readonly { readonly type: string; readonly text?: string }[] | null }[];
  readonly max_tokens?: number;
  readonly max_completion_tokens?: number;
  readonly temperature?: number;
  readonly top_p?: number;
  readonly top_k?: number;
  readonly min_p?: number;
  readonly repetition_penalty?: number;
  readonly seed?: number;
  readonly stop?: string | readonly string[] | null;
  readonly stream?: boolean;
  readonly stream_options?: { readonly include_usage?: boolean } | null;
  readonly n?: number;
}

export interface CompletionBody extends Omit<ChatCompletionBody, "messages"> {
  readonly prompt: string | readonly string[];
}
