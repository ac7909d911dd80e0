import type { CacheSpec } from "../cache/cache-spec.js";

/** Facts about a loaded model. */
export interface ModelInfo {
  /** `general.architecture` (`nemotron_h`, `qwen3next`, …). */
  readonly architecture: string;
  /** llama.cpp's one-line description (`nemotron_h ?B F16`). */
  readonly description: string;
  /** The model's cache geometry (what the planner and the cache layer work from). */
  readonly cacheSpec: CacheSpec;
  /** Tokens in the vocabulary. */
  readonly vocabSize: number;
  /** Context length the model was trained for. */
  readonly contextLength: number;
  /** Hidden size. */
  readonly embeddingLength: number;
  /** Blocks in the model. */
  readonly layerCount: number;
  /** Some layers keep recurrent state and some attention KV. */
  readonly isHybrid: boolean;
  /** Every layer is recurrent (Mamba, RWKV). */
  readonly isRecurrent: boolean;
  /** Jinja chat template from the GGUF (`tokenizer.chat_template`), or null. */
  readonly chatTemplate: string | null;
  /** Beginning-of-sequence token, -1 when none. */
  readonly bosToken: number;
  /** End-of-sequence token, -1 when none. */
  readonly eosToken: number;
  /** Every token that ends generation (EOS, EOT, …). */
  readonly endOfGenerationTokens: readonly number[];
  /** Whether tokenizing with `addSpecial` prepends BOS. */
  readonly addBos: boolean;
  /** Bytes of the weights as loaded. */
  readonly sizeBytes: number;
  /** Parameter count. */
  readonly parameterCount: number;
  /** The GGUF header's digest (`GgufFile.identity`): saved sessions carry it and are refused by any other model. */
  readonly identity: string;
}
