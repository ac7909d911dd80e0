import type { Backend } from "../backend/backend.js";
import type { BackendContext } from "../backend/backend-context.js";
import type { BackendModel } from "../backend/backend-model.js";

/** Backend operations a fault can be injected into. */
export type FaultPoint = "loadModel" | "createContext" | "decode" | "seqRemove" | "seqCopy" | "getState" | "setState";

/**
 * Decides, before each call of an operation, whether it fails: return the error to throw (or reject with), or
 * undefined to let the call through. `call` counts calls of that operation from 1, over every model and context
 * of the wrapped backend. At `decode`, `"crash"` crashes the backend for real first (`abortForTesting`: a trap
 * inside the Wasm module; the mock's equivalent) and then lets the call go on into the crashed backend.
 */
export type FaultPlan = (point: FaultPoint, call: number) => Error | "crash" | undefined;

interface Crashable {
  abortForTesting?: () => Promise<never>;
}

/**
 * Wraps any {@link Backend} so that chosen calls fail, for tests of what sits above the backend interface (the
 * engine, the server) on real failure paths: a decode that fails, an allocation that fails, a state that cannot be
 * read or restored. Everything else is the wrapped backend's, unchanged — so the failures happen on a real
 * llama.cpp with real state around them.
 */
export function withFaults(backend: Backend, plan: FaultPlan): Backend {
  const calls = new Map<FaultPoint, number>();
  const check = (point: FaultPoint): "crash" | undefined => {
    const call = (calls.get(point) ?? 0) + 1;
    calls.set(point, call);
    const fault = plan(point, call);
    if (fault === "crash" && point !== "decode") throw new Error(`a crash fault is injected at decode only, not at ${point}`);
    if (fault instanceof Error) throw fault;
    return fault;
  };
  const crash = async () => {
    const abort = (backend as Crashable).abortForTesting;
    if (abort === undefined) throw new Error(`the ${backend.name} backend cannot crash on purpose (no abortForTesting)`);
    await abort.call(backend).catch(() => undefined);
  };
  const context = (target: BackendContext): BackendContext =>
    delegate(target, {
      decode: async (...args: Parameters<BackendContext["decode"]>) => {
        if (check("decode") === "crash") await crash();
        return target.decode(...args);
      },
      seqRemove: (...args: Parameters<BackendContext["seqRemove"]>) => {
        check("seqRemove");
        return target.seqRemove(...args);
      },
      seqCopy: (...args: Parameters<BackendContext["seqCopy"]>) => {
        check("seqCopy");
        target.seqCopy(...args);
      },
      getState: (...args: Parameters<BackendContext["getState"]>) => {
        check("getState");
        return target.getState(...args);
      },
      setState: (...args: Parameters<BackendContext["setState"]>) => {
        check("setState");
        return target.setState(...args);
      },
    });
  const model = (target: BackendModel): BackendModel =>
    delegate(target, {
      createContext: async (...args: Parameters<BackendModel["createContext"]>) => {
        check("createContext");
        return context(await target.createContext(...args));
      },
    });
  return delegate(backend, {
    loadModel: async (...args: Parameters<Backend["loadModel"]>) => {
      check("loadModel");
      return model(await backend.loadModel(...args));
    },
  });
}

/** `target` with some methods replaced; every other property read from it (methods bound to it). */
function delegate<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value: unknown = Reflect.get(object, property, object);
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}
