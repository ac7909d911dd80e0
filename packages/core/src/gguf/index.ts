export { architectureRules, supportedArchitectures } from "./architectures.js";
export { type GgmlTypeInfo, ggmlRowBytes, ggmlTypeById, ggmlTypeByName } from "./ggml-types.js";
export { MetadataReader, architectureOf } from "./metadata.js";
export { cacheSpecFromMetadata } from "./model-cache-spec.js";
export { type GgufFile, type GgufNeedsMoreBytes, type GgufTensorInfo, parseGguf, parseGgufPrefix } from "./reader.js";
export { GgufValueType, type GgufArrayValue, type GgufValue } from "./value-types.js";
export { type GgufTensorDescription, type GgufTensorToWrite, ggufHeader, writeGguf } from "./writer.js";
