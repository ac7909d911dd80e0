import {
  BackendError,
  DisposedError,
  InvalidArgumentError,
  InvalidGgufError,
  InvalidPlanError,
  ModelFileError,
  type ModelFileProblem,
  ModelMetadataError,
  UnsupportedArchitectureError,
} from "@hybrid-llm/core";
import type { SerializedError } from "./protocol.js";

/** Caller side: plain data back into the project's typed errors. */
export function reviveError(error: SerializedError): Error {
  const f = error.fields;
  switch (error.name) {
    case "BackendError":
      return new BackendError({ code: f.code as BackendError["code"], message: error.message });
    case "InvalidArgumentError":
      return new InvalidArgumentError({ argument: String(f.argument), message: error.message });
    case "DisposedError":
      return new DisposedError({ object: String(f.object) });
    case "InvalidGgufError":
      return new InvalidGgufError({ message: error.message, offset: Number(f.offset) });
    case "ModelFileError": {
      const revived = new ModelFileError({ path: String(f.path), problem: f.problem as ModelFileProblem, ...(typeof f.code === "string" ? { code: f.code } : {}) });
      revived.message = error.message;
      return revived;
    }
    case "ModelMetadataError":
      return new ModelMetadataError({ key: String(f.key), message: error.message });
    case "InvalidPlanError":
      return new InvalidPlanError({ option: String(f.option), message: error.message });
    case "UnsupportedArchitectureError": {
      const revived = new UnsupportedArchitectureError({ architecture: String(f.architecture), supported: [] });
      revived.message = error.message;
      return revived;
    }
    default:
      return new BackendError({ code: "crashed", message: error.message });
  }
}
