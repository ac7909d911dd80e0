import { type GgmlTypeInfo } from "./ggml-types.js";
import { GgufValueType, type GgufScalarTypeName, type GgufValue } from "./value-types.js";

/** A tensor to write: its bytes must be exactly `dims` elements of `type`. */
export interface GgufTensorToWrite {
  /** Tensor name (at most 63 bytes). */
  readonly name: string;
  /** Dimensions in ggml order (ne0 first). */
  readonly dims: readonly number[];
  /** Storage type. */
  readonly type: GgmlTypeInfo;
  /** The tensor's bytes, little-endian. */
  readonly data: Uint8Array;
}

const encoder = new TextEncoder();

/** A tensor's description in the header: what {@link ggufHeader} needs. */
export type GgufTensorDescription = Omit<GgufTensorToWrite, "data">;

/**
 * The header of a GGUF v3 file (magic, counts, metadata, tensor infos), and where its data section starts and how
 * long it is. {@link writeGguf} appends the data; tests use the header alone to describe huge models sparsely.
 */
export function ggufHeader(
  metadata: ReadonlyMap<string, GgufValue>,
  tensors: readonly GgufTensorDescription[],
): { bytes: Uint8Array; dataOffset: number; dataSize: number; tensorBytes: number[] } {
  const alignment = alignmentOf(metadata);
  const header = new ByteSink();
  header.u32(0x46554747);
  header.u32(3);
  header.u64(BigInt(tensors.length));
  header.u64(BigInt(metadata.size));
  for (const [key, value] of metadata) {
    header.string(key);
    header.value(value);
  }
  let offset = 0;
  const tensorBytes: number[] = [];
  for (const tensor of tensors) {
    const elements = tensor.dims.reduce((a, b) => a * b, 1);
    const bytes = (elements / tensor.type.blockSize) * tensor.type.blockBytes;
    header.string(tensor.name);
    header.u32(tensor.dims.length);
    for (const dim of tensor.dims) header.u64(BigInt(dim));
    header.u32(tensor.type.id);
    header.u64(BigInt(offset));
    tensorBytes.push(bytes);
    offset += alignUp(bytes, alignment);
  }
  const bytes = header.bytes();
  return { bytes, dataOffset: alignUp(bytes.length, alignment), dataSize: offset, tensorBytes };
}

/**
 * Serialises a GGUF v3 file: header, metadata in the given order, tensor infos, then tensor data packed in
 * order and padded to `general.alignment` (32 unless the metadata says otherwise). Deterministic: the same
 * input always gives the same bytes.
 */
export function writeGguf(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorToWrite[]): Uint8Array {
  const header = ggufHeader(metadata, tensors);
  tensors.forEach((tensor, i) => {
    if (tensor.data.length !== header.tensorBytes[i]) {
      throw new RangeError(`tensor ${tensor.name}: ${tensor.data.length} bytes given, ${header.tensorBytes[i]} expected`);
    }
  });
  const out = new Uint8Array(header.dataOffset + header.dataSize);
  out.set(header.bytes, 0);
  let position = header.dataOffset;
  const alignment = alignmentOf(metadata);
  for (const tensor of tensors) {
    out.set(tensor.data, position);
    position += alignUp(tensor.data.length, alignment);
  }
  return out;
}

function alignmentOf(metadata: ReadonlyMap<string, GgufValue>): number {
  const value = metadata.get("general.alignment");
  return value?.type === "uint32" ? value.value : 32;
}

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** A growable little-endian byte buffer. */
class ByteSink {
  private buffer = new Uint8Array(1 << 16);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  private reserve(n: number): number {
    if (this.length + n > this.buffer.length) {
      const grown = new Uint8Array(Math.max(this.buffer.length * 2, this.length + n));
      grown.set(this.buffer.subarray(0, this.length));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  /**
   * Reserves `n` bytes at the end (now at `this.length - n`) and returns the view to write them through: the view of
   * the grown buffer, which `this.view.setX(this.reserve(n), …)` would miss (the old view is read before reserve runs).
   */
  private room(n: number): DataView {
    this.reserve(n);
    return this.view;
  }

  u32(v: number): void {
    this.room(4).setUint32(this.length - 4, v, true);
  }

  u64(v: bigint): void {
    this.room(8).setBigUint64(this.length - 8, v, true);
  }

  string(s: string): void {
    const encoded = encoder.encode(s);
    this.u64(BigInt(encoded.length));
    const at = this.reserve(encoded.length); // reserve first: it may grow the buffer, which this.buffer must then be
    this.buffer.set(encoded, at);
  }

  value(value: GgufValue): void {
    this.u32(GgufValueType[value.type]);
    if (value.type === "array") {
      this.u32(GgufValueType[value.elementType]);
      this.u64(BigInt(value.value.length));
      for (const element of value.value) this.scalar(value.elementType, element);
      return;
    }
    this.scalar(value.type, value.value);
  }

  private scalar(type: GgufScalarTypeName, v: number | bigint | boolean | string): void {
    switch (type) {
      case "uint8":
        this.room(1).setUint8(this.length - 1, v as number);
        return;
      case "int8":
        this.room(1).setInt8(this.length - 1, v as number);
        return;
      case "uint16":
        this.room(2).setUint16(this.length - 2, v as number, true);
        return;
      case "int16":
        this.room(2).setInt16(this.length - 2, v as number, true);
        return;
      case "uint32":
        this.room(4).setUint32(this.length - 4, v as number, true);
        return;
      case "int32":
        this.room(4).setInt32(this.length - 4, v as number, true);
        return;
      case "float32":
        this.room(4).setFloat32(this.length - 4, v as number, true);
        return;
      case "bool":
        this.room(1).setUint8(this.length - 1, v ? 1 : 0);
        return;
      case "string":
        this.string(v as string);
        return;
      case "uint64":
        this.room(8).setBigUint64(this.length - 8, v as bigint, true);
        return;
      case "int64":
        this.room(8).setBigInt64(this.length - 8, v as bigint, true);
        return;
      case "float64":
        this.room(8).setFloat64(this.length - 8, v as number, true);
        return;
    }
  }

  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}
