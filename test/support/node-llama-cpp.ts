import { type Llama, LlamaLogLevel, getLlama } from "node-llama-cpp";

/**
 * node-llama-cpp's prebuilt CPU llama.cpp (the same release whose source bundle this project builds from), with
 * its log captured. Until the project's own backend exists it is how tests observe real llama.cpp.
 *
 * Every context here is created with `threads: 1`: on a shared 2-vCPU machine llama.cpp's spinning thread pool
 * made decoding ~400× slower with 2 threads (measured: 5 s vs 13 ms per token on the twin fixture).
 */
export class CapturedLlama {
  private lines: string[] = [];

  private constructor(readonly llama: Llama) {}

  private static shared: Promise<CapturedLlama> | undefined;

  /** One instance per test worker: node-llama-cpp keeps a single native llama.cpp per process. */
  static get(): Promise<CapturedLlama> {
    CapturedLlama.shared ??= CapturedLlama.create();
    return CapturedLlama.shared;
  }

  private static async create(): Promise<CapturedLlama> {
    let self: CapturedLlama | undefined;
    const pending: string[] = [];
    const llama = await getLlama({
      gpu: false,
      build: "never",
      logLevel: LlamaLogLevel.debug,
      logger: (_level, message) => (self ? self.lines : pending).push(message),
    });
    self = new CapturedLlama(llama);
    self.lines.push(...pending);
    return self;
  }

  /** Everything llama.cpp logged since the last call. */
  takeLog(): string {
    const text = this.lines.join("\n");
    this.lines = [];
    return text;
  }
}
