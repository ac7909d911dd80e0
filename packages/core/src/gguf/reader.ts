import { InvalidGgufError } from "../errors/invalid-gguf-error.js";
import { type GgmlTypeInfo, ggmlTypeById } from "./ggml-types.js";
import { type GgufArrayValue, type GgufScalarTypeName, type GgufValue, typeNameById } from "./value-types.js";
import { digest64 } from "./checksum.js";

/** One tensor as described in the file's tensor-info table. */
export interface GgufTensorInfo {
  /** Tensor name (`blk.3.attn_k.weight`). */
  readonly name: string;
  /** Dimensions in ggml order (ne0 first: the row length). */
  readonly dims: readonly number[];
  /** Storage type. */
  readonly type: GgmlTypeInfo;
  /** Offset of the tensor's bytes from the start of the data section. */
  readonly offset: number;
  /** Size of the tensor's bytes (ggml_nbytes, without alignment padding). */
  readonly byteSize: number;
}

/** Everything in a GGUF file except the tensor bytes. */
export interface GgufFile {
  /** Format version (2 or 3). */
  readonly version: number;
  /** Metadata, in file order. */
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensor infos, in file order. */
  readonly tensors: readonly GgufTensorInfo[];
  /** `general.alignment`, default 32. */
  readonly alignment: number;
  /** Absolute byte offset of the data section. */
  readonly dataOffset: number;
  /** Bytes of the data section, each tensor padded to `alignment` (what llama.cpp expects after `dataOffset`). */
  readonly dataSize: number;
  /**
   * Identity of the model: a 64-bit digest of the header (metadata and tensor infos, everything before the data).
   * Two files with the same identity have the same architecture, hyperparameters, vocabulary and tensor layout.
   */
  readonly identity: string;
}

/** Returned by {@link parseGgufPrefix} when the prefix ended before the tensor-info table did. */
export interface GgufNeedsMoreBytes {
  readonly needMoreBytes: true;
  /** Bytes read so far when the prefix ran out. */
  readonly prefixLength: number;
}

// Limits mirrored from ggml/src/gguf.cpp so that we reject exactly what llama.cpp rejects.
const GGML_MAX_DIMS = 4;
const GGML_MAX_NAME = 64;
const INT64_MAX = 2n ** 63n - 1n;

const decoder = new TextDecoder("utf-8");

class PrefixExhausted {}

class Cursor {
  private readonly view: DataView;
  position = 0;

  /**
   * @param bytes the whole file, or its first bytes
   * @param fileSize the size of the whole file: reading past it is corruption, reading past `bytes` (when
   *   shorter) only means more of the file is needed
   */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileSize: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Bytes left in the file (not only in the prefix held). */
  get remaining(): number {
    return this.fileSize - this.position;
  }

  fail(message: string, at = this.position): never {
    throw new InvalidGgufError({ message, offset: at });
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) this.fail(`truncated: ${what} needs ${n} bytes, ${this.remaining} left`);
    if (n > this.bytes.length - this.position) throw new PrefixExhausted();
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.position++);
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.position, true);
    this.position += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.position, true);
    this.position += 8;
    return v;
  }

  /** A u64 used as a count or size: must fit a JS number. */
  size(what: string): number {
    const at = this.position;
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is too large`, at);
    return Number(v);
  }

  string(what: string): string {
    const at = this.position;
    const length = this.size(`${what} length`);
    // A length larger than what is left can only be a corrupt file: refuse before allocating.
    if (length > this.remaining) this.fail(`${what} length ${length} exceeds the ${this.remaining} bytes left`, at);
    this.need(length, what);
    const s = decoder.decode(this.bytes.subarray(this.position, this.position + length));
    this.position += length;
    return s;
  }

  scalar(type: GgufScalarTypeName, what: string): number | bigint | boolean | string {
    const v = this.view;
    switch (type) {
      case "uint8":
        return this.u8(what);
      case "int8":
        this.need(1, what);
        return v.getInt8(this.position++);
      case "uint16":
        this.need(2, what);
        this.position += 2;
        return v.getUint16(this.position - 2, true);
      case "int16":
        this.need(2, what);
        this.position += 2;
        return v.getInt16(this.position - 2, true);
      case "uint32":
        return this.u32(what);
      case "int32":
        this.need(4, what);
        this.position += 4;
        return v.getInt32(this.position - 4, true);
      case "float32":
        this.need(4, what);
        this.position += 4;
        return v.getFloat32(this.position - 4, true);
      case "bool": {
        const at = this.position;
        const b = this.u8(what);
        if (b > 1) this.fail(`${what}: bool byte is ${b}`, at);
        return b === 1;
      }
      case "string":
        return this.string(what);
      case "uint64":
        return this.u64(what);
      case "int64":
        this.need(8, what);
        this.position += 8;
        return v.getBigInt64(this.position - 8, true);
      case "float64":
        this.need(8, what);
        this.position += 8;
        return v.getFloat64(this.position - 8, true);
    }
  }
}

const minimumElementBytes: Record<GgufScalarTypeName, number> = {
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  bool: 1,
  string: 8,
  uint64: 8,
  int64: 8,
  float64: 8,
};

function readValue(cursor: Cursor, key: string): GgufValue {
  const typeAt = cursor.position;
  const typeName = typeNameById.get(cursor.u32(`type of "${key}"`));
  if (typeName === undefined) cursor.fail(`key "${key}" has an unknown value type`, typeAt);
  if (typeName !== "array") {
    return { type: typeName, value: cursor.scalar(typeName, `value of "${key}"`) } as GgufValue;
  }
  const elementAt = cursor.position;
  const elementType = typeNameById.get(cursor.u32(`element type of "${key}"`));
  if (elementType === undefined || elementType === "array") {
    cursor.fail(`key "${key}" is an array of an unsupported element type`, elementAt);
  }
  const countAt = cursor.position;
  const count = cursor.size(`element count of "${key}"`);
  // Every element takes at least this many bytes, so a count the bytes cannot hold is corrupt: checking it
  // first keeps a hostile count from driving a huge allocation.
  if (count * minimumElementBytes[elementType] > cursor.remaining) {
    cursor.fail(`array "${key}" claims ${count} elements, more than the ${cursor.remaining} bytes left can hold`, countAt);
  }
  const value: (number | bigint | boolean | string)[] = new Array(count);
  for (let i = 0; i < count; i++) value[i] = cursor.scalar(elementType, `element ${i} of "${key}"`);
  return { type: "array", elementType, value } as GgufArrayValue;
}

function parse(bytes: Uint8Array, fileSize: number): GgufFile {
  const cursor: Cursor = new Cursor(bytes, fileSize);

  const magic = cursor.u32("magic");
  if (magic !== 0x46554747 /* "GGUF" little-endian */) cursor.fail("not a GGUF file (bad magic)", 0);
  const version = cursor.u32("version");
  if (version === 1) cursor.fail("GGUF version 1 is no longer supported", 4);
  if (version !== 2 && version !== 3) cursor.fail(`unsupported GGUF version ${version}`, 4);

  const tensorCountAt = cursor.position;
  const tensorCount = cursor.size("tensor count");
  const kvCountAt = cursor.position;
  const kvCount = cursor.size("metadata count");
  // Smallest possible tensor info: 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset); smallest KV pair:
  // 8 (key length) + 1 (key) + 4 (type) + 1 (value).
  if (tensorCount * 24 > cursor.remaining) {
    cursor.fail(`tensor count ${tensorCount} cannot fit in the ${cursor.remaining} bytes left`, tensorCountAt);
  }
  if (kvCount * 14 > cursor.remaining) {
    cursor.fail(`metadata count ${kvCount} cannot fit in the ${cursor.remaining} bytes left`, kvCountAt);
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const keyAt = cursor.position;
    const key = cursor.string(`key ${i}`);
    if (key.length === 0) cursor.fail(`key ${i} is empty`, keyAt);
    if (metadata.has(key)) cursor.fail(`duplicate key "${key}"`, keyAt);
    metadata.set(key, readValue(cursor, key));
  }

  let alignment = 32;
  const alignmentValue = metadata.get("general.alignment");
  if (alignmentValue !== undefined) {
    if (alignmentValue.type !== "uint32") cursor.fail(`general.alignment must be uint32, is ${alignmentValue.type}`);
    alignment = alignmentValue.value;
    if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
      cursor.fail(`general.alignment ${alignment} is not a power of 2`);
    }
  }

  const tensors: GgufTensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const nameAt = cursor.position;
    const name = cursor.string(`name of tensor ${i}`);
    if (name.length >= GGML_MAX_NAME) cursor.fail(`tensor name "${name}" is longer than ${GGML_MAX_NAME - 1}`, nameAt);
    if (names.has(name)) cursor.fail(`duplicate tensor name "${name}"`, nameAt);
    names.add(name);

    const dimsAt = cursor.position;
    const nDims = cursor.u32(`dimension count of "${name}"`);
    if (nDims > GGML_MAX_DIMS) cursor.fail(`tensor "${name}" has ${nDims} dimensions (max ${GGML_MAX_DIMS})`, dimsAt);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const dimAt = cursor.position;
      const dim = cursor.u64(`dimension ${d} of "${name}"`);
      if (dim > INT64_MAX) cursor.fail(`tensor "${name}" dimension ${d} is negative`, dimAt);
      elements *= dim;
      if (elements > BigInt(Number.MAX_SAFE_INTEGER)) cursor.fail(`tensor "${name}" has too many elements`, dimAt);
      dims.push(Number(dim));
    }

    const typeAt = cursor.position;
    const typeId = cursor.u32(`type of "${name}"`);
    const type = ggmlTypeById(typeId);
    if (type === undefined) cursor.fail(`tensor "${name}" has unknown ggml type ${typeId}`, typeAt);
    const rowElements = dims[0] ?? 1;
    if (rowElements % type.blockSize !== 0) {
      cursor.fail(`tensor "${name}" rows of ${rowElements} are not a multiple of ${type.name}'s block of ${type.blockSize}`, typeAt);
    }
    const byteSize = (Number(elements) / type.blockSize) * type.blockBytes;

    const offsetAt = cursor.position;
    const offset = cursor.size(`data offset of "${name}"`);
    if (offset % alignment !== 0) cursor.fail(`tensor "${name}" offset ${offset} is not aligned to ${alignment}`, offsetAt);
    tensors.push({ name, dims, type, offset, byteSize });
  }

  const identity = digest64(bytes.subarray(0, cursor.position));
  const dataOffset = alignUp(cursor.position, alignment);
  // llama.cpp requires tensors packed in order, each padded to the alignment.
  let dataSize = 0;
  for (const tensor of tensors) {
    if (tensor.offset !== dataSize) {
      cursor.fail(`tensor "${tensor.name}" has data offset ${tensor.offset}, expected ${dataSize}`);
    }
    dataSize += alignUp(tensor.byteSize, alignment);
  }
  return { version, metadata, tensors, alignment, dataOffset, dataSize, identity };
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/**
 * Parses a complete GGUF file held in memory. Validates what llama.cpp's loader validates (magic, version,
 * key and tensor tables, types, alignment, tensor packing) and that the tensor data fits in `bytes`.
 * Never allocates more than a small multiple of `bytes.length`, whatever the length fields claim.
 *
 * @throws InvalidGgufError with the byte offset of the first problem.
 */
export function parseGguf(bytes: Uint8Array): GgufFile {
  const file = parse(bytes, bytes.length);
  checkDataFits(file, bytes.length);
  return file;
}

/**
 * Parses the header of a GGUF file from its first bytes, for reading metadata of multi-GB models without
 * loading them. Returns `{ needMoreBytes }` when `prefix` ended inside the header or tensor-info table; call
 * again with a longer prefix. `fileSize` is the size of the whole file, used to check the data section.
 *
 * @throws InvalidGgufError for a malformed header, or tensor data that would run past `fileSize`.
 */
export function parseGgufPrefix(prefix: Uint8Array, fileSize: number): GgufFile | GgufNeedsMoreBytes {
  if (prefix.length >= fileSize) return parseGguf(prefix.subarray(0, fileSize));
  try {
    const file = parse(prefix, fileSize);
    checkDataFits(file, fileSize);
    return file;
  } catch (error) {
    if (error instanceof PrefixExhausted) return { needMoreBytes: true, prefixLength: prefix.length };
    throw error;
  }
}

function checkDataFits(file: GgufFile, fileSize: number): void {
  const last = file.tensors.at(-1);
  if (last === undefined) return;
  const end = file.dataOffset + last.offset + last.byteSize;
  if (end > fileSize) {
    throw new InvalidGgufError({
      message: `truncated: tensor "${last.name}" ends at byte ${end} but the file has ${fileSize} bytes`,
      offset: fileSize,
    });
  }
}
