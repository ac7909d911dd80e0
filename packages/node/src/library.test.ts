import { InvalidArgumentError } from "@hybrid-llm/core";
import { describe, expect, test } from "vitest";
import { chooseLibrary, defaultGpu, gpuNames, parseGpuOption } from "./library.js";
import { NodeBackend } from "./node-backend.js";

describe("the gpu option (the CLI's --gpu words)", () => {
  test("takes the five words, undefined as the default auto, and false as a deprecated alias of off", () => {
    expect(gpuNames).toEqual(["auto", "cuda", "vulkan", "metal", "off"]);
    for (const name of gpuNames) expect(parseGpuOption(name)).toBe(name);
    expect(parseGpuOption(undefined)).toBe("auto");
    expect(defaultGpu).toBe("auto");
    expect(parseGpuOption(false)).toBe("off");
  });

  test.each([["bogus"], ["CUDA"], [""], [true], [0], [null], [{}]])("refuses %j with an InvalidArgumentError naming the valid words", (value) => {
    const error = (() => {
      try {
        parseGpuOption(value);
      } catch (caught) {
        return caught;
      }
    })();
    expect(InvalidArgumentError.isInstance(error)).toBe(true);
    expect((error as InvalidArgumentError).argument).toBe("gpu");
    expect((error as Error).message).toContain('"auto", "cuda", "vulkan", "metal", "off"');
  });

  test("NodeBackend.create refuses an unknown gpu instead of falling back to the CPU", async () => {
    await expect(NodeBackend.create({ gpu: "bogus" as never })).rejects.toSatisfy((error) => InvalidArgumentError.isInstance(error) && /got "bogus"/.test((error as Error).message));
    await expect(NodeBackend.create(null as never)).rejects.toSatisfy(InvalidArgumentError.isInstance);
    await expect(NodeBackend.create({ libraryDir: 42 as never })).rejects.toSatisfy(InvalidArgumentError.isInstance);
    await expect(NodeBackend.create({ verbose: "yes" as never })).rejects.toSatisfy(InvalidArgumentError.isInstance);
  });

  test("off and false choose the same (CPU) build", () => {
    expect(chooseLibrary("off", "")).toEqual(chooseLibrary(false, ""));
    expect(chooseLibrary("off", "")?.flavour ?? "cpu").toBe("cpu");
  });
});
