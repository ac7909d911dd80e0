import { UsageError } from "./usage-error.js";

/**
 * Parses an integer option (`--slots 8`, `--ctx 1_048_576`) for a command whose usage text is `usage`; a bad value
 * is a usage error naming the option.
 */
export function integerOption(name: string, text: string, min: number, usage: string): number {
  const value = Number(text.replaceAll("_", ""));
  if (!Number.isInteger(value) || value < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${text}"`, usage);
  return value;
}
