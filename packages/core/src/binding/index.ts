export { BindingContext } from "./binding-context.js";
export { BindingModel } from "./binding-model.js";
export type { NativeBinding, NativeContext, NativeContextCreateOptions, NativeDevice, NativeModel, NativeModelInfo, NativeRpcOptions } from "./native-binding.js";
export { toTypedError } from "./typed-errors.js";
export { validateBatch } from "./validate-batch.js";
export { MAX_GRAMMAR_NESTING, grammarShapeError } from "./grammar-shape.js";
export { TokenPieceTable, TokenPieceTables, type TokenPieces } from "./token-pieces.js";
