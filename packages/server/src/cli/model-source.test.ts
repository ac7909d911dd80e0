import { join } from "node:path";
import { homedir } from "node:os";
import { describe, expect, test } from "vitest";
import { CommandError } from "./command-error.js";
import { defaultModelsDir, hubEndpoint, parseModelUri } from "./model-source.js";

describe("model URIs", () => {
  test("hf:<owner>/<repo>/<file> → the hub's resolve URL and a cache path per owner, repo and revision", () => {
    expect(parseModelUri("hf:owner/repo/model-Q4_K_M.gguf", {})).toEqual({
      url: "https://huggingface.co/owner/repo/resolve/main/model-Q4_K_M.gguf",
      cachePath: join("hf", "owner", "repo", "main", "model-Q4_K_M.gguf"),
    });
    expect(parseModelUri("hf:owner/repo/sub/dir/m.gguf#v1.0", { HF_ENDPOINT: "http://127.0.0.1:9/mirror/" })).toEqual({
      url: "http://127.0.0.1:9/mirror/owner/repo/resolve/v1.0/sub/dir/m.gguf",
      cachePath: join("hf", "owner", "repo", "v1.0", "sub", "dir", "m.gguf"),
    });
  });

  test("URLs → url/<host>/<path>; local paths are not URIs", () => {
    expect(parseModelUri("https://example.com:8443/models/m.gguf?download=1", {})).toEqual({
      url: "https://example.com:8443/models/m.gguf?download=1",
      cachePath: join("url", "example.com_8443", "models", "m.gguf"),
    });
    for (const local of ["model.gguf", "./hf:odd.gguf", "/abs/m.gguf", "C:\\models\\m.gguf"]) expect(parseModelUri(local, {})).toBeUndefined();
  });

  test.each([
    "hf:owner/repo",
    "hf:owner/repo/",
    "hf:owner/repo/../../../etc/passwd.gguf",
    "hf:owner/repo/./m.gguf",
    "hf:owner/repo/m.gguf#..",
    "hf:owner/repo/m.gguf#a#b",
    "hf:owner/repo/README.md",
    "hf:own er/repo/m.gguf",
    "https://example.com/",
    "https://example.com/a/..",
  ])("refuses %s with a one-line CommandError, before any path is formed", (uri) => {
    expect(() => parseModelUri(uri, {})).toThrow(CommandError);
  });

  test("the models folder: HYBRID_LLM_MODELS_DIR, else XDG_CACHE_HOME/hybrid-llm/models, else ~/.cache/hybrid-llm/models", () => {
    expect(defaultModelsDir({ HYBRID_LLM_MODELS_DIR: "/m", XDG_CACHE_HOME: "/x" })).toBe("/m");
    expect(defaultModelsDir({ XDG_CACHE_HOME: "/x" })).toBe(join("/x", "hybrid-llm", "models"));
    expect(defaultModelsDir({})).toBe(join(homedir(), ".cache", "hybrid-llm", "models"));
    expect(hubEndpoint({})).toBe("https://huggingface.co");
  });
});
