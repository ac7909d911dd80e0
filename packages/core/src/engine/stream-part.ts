/** Why a request finished. */
export type FinishReason = "stop" | "length" | "cancelled" | "error";

/** Token counts of a request. */
export interface Usage {
  /** Prompt tokens processed: served from the prefix cache or evaluated. */
  readonly promptTokens: number;
  /** Tokens generated. */
  readonly completionTokens: number;
  /** Of those, prompt tokens served from the prefix cache (not evaluated again). */
  readonly cachedPromptTokens: number;
}

/**
 * One part of a request's stream, discriminated on `type`. A stream is `start`, then `token` / `text-delta` parts,
 * then exactly one `finish`; a failure arrives as an `error` part followed by `finish` with reason `error` — never
 * as an exception in the middle of the iteration.
 */
export type StreamPart =
  | {
      readonly type: "start";
      readonly requestId: number;
      /** The slot (llama.cpp sequence id) serving the request. */
      readonly slot: number;
      readonly promptTokens: number;
      /** Prompt tokens the request resumes from the prefix cache (the rest is evaluated). */
      readonly cachedTokens: number;
    }
  | {
      readonly type: "token";
      readonly token: number;
      /** Top-1 minus top-2 logit: how robust a greedy choice was. */
      readonly margin: number;
      /** The logits the token was chosen from, when the request asked for them (`returnLogits`). */
      readonly logits?: Float32Array;
      /** The token's log-probability (natural log, of the model's raw distribution), when the request asked for `logprobs`. */
      readonly logprob?: number;
      /** The `logprobs` most likely tokens at this step and their log-probabilities, most likely first (when asked). */
      readonly topLogprobs?: readonly { readonly token: number; readonly logprob: number }[];
    }
  | { readonly type: "text-delta"; readonly text: string }
  | { readonly type: "error"; readonly error: Error }
  | { readonly type: "finish"; readonly reason: FinishReason; readonly usage: Usage; readonly text: string };
