const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** `6442450944` → `6.00 GiB`; binary units, two decimals, as llama.cpp prints MiB. */
export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  if (bytes >= MiB) return `${(bytes / MiB).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(2)} KiB`;
  return `${bytes} B`;
}

const unitFactors: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 1024,
  mib: MiB,
  gib: GiB,
  tib: 1024 * GiB,
};

/**
 * Parses a byte count: `80GiB`, `24 GB`, `512MiB`, `1.5e9`, `4096`. Returns undefined for anything else.
 * GiB/MiB are binary (1024³), GB/MB decimal.
 */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (match === null) return undefined;
  const factor = unitFactors[(match[2] ?? "").toLowerCase() || "b"];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(match[1]) * factor);
  return Number.isFinite(bytes) ? bytes : undefined;
}
