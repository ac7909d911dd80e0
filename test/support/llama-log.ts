/**
 * Reads llama.cpp's own account of what it allocated from its log lines (llama_context, llama_kv_cache,
 * llama_memory_recurrent). Sizes there are printed as MiB with two decimals; {@link mibAsLlamaPrints} formats
 * a byte count the same way so the two can be compared as strings.
 */
export interface LoggedAllocation {
  readonly nCtx: number;
  readonly nSeqMax: number;
  readonly nCtxSeq: number;
  readonly kv: { cells: number; layers: number; seqs: number; streams: number; totalMiB: string; kMiB: string; vMiB: string; kType: string; vType: string } | undefined;
  readonly recurrent: { cells: number; totalMiB: string; rMiB: string; sMiB: string } | undefined;
}

function number(log: string, pattern: RegExp): number {
  const match = pattern.exec(log);
  if (match === null) throw new Error(`log line not found: ${pattern}`);
  return Number(match[1]);
}

/** Parses the allocation lines of one context creation. */
export function parseAllocationLog(log: string): LoggedAllocation {
  const kv = /llama_kv_cache: size =\s*([\d.]+) MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)\/(\d+) seqs\), K \((\w+)\):\s*([\d.]+) MiB, V \((\w+)\):\s*([\d.]+) MiB/.exec(log);
  const recurrent = /llama_memory_recurrent: size =\s*([\d.]+) MiB \(\s*(\d+) cells,.*R \(f32\):\s*([\d.]+) MiB, S \(f32\):\s*([\d.]+) MiB/.exec(log);
  return {
    nCtx: number(log, /llama_context: n_ctx\s+= (\d+)/),
    nSeqMax: number(log, /llama_context: n_seq_max\s+= (\d+)/),
    nCtxSeq: number(log, /llama_context: n_ctx_seq\s+= (\d+)/),
    kv: kv ? {
      totalMiB: kv[1]!,
      cells: Number(kv[2]),
      layers: Number(kv[3]),
      seqs: Number(kv[4]),
      streams: Number(kv[5]),
      kType: kv[6]!,
      kMiB: kv[7]!,
      vType: kv[8]!,
      vMiB: kv[9]!,
    } : undefined,
    recurrent: recurrent ? { totalMiB: recurrent[1]!, cells: Number(recurrent[2]), rMiB: recurrent[3]!, sMiB: recurrent[4]! } : undefined,
  };
}

/**
 * `printf("%.2f", (float)bytes / (1024.0f * 1024.0f))` as llama.cpp does it: float32 division, then the exact
 * binary value rounded to two decimals with ties to even (glibc), not JavaScript's ties-up `toFixed`.
 */
export function mibAsLlamaPrints(bytes: number): string {
  const mib = Math.fround(Math.fround(bytes) / Math.fround(1024 * 1024));
  const scaled = mib * 100; // exact: a float32 times 100 fits a double's mantissa
  let whole = Math.floor(scaled);
  const fraction = scaled - whole;
  if (fraction > 0.5 || (fraction === 0.5 && whole % 2 === 1)) whole += 1;
  return (whole / 100).toFixed(2);
}
