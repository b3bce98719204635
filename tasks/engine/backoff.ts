/**
 * Exponential backoff with full jitter: the delay before attempt n+1 is uniform in
 * [0, min(cap, base * 2^n)) (AWS architecture blog, "Exponential Backoff and Jitter").
 * A floor keeps a retry from landing in the same millisecond as the failure.
 */
export function retryDelayMs(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.max(1, Math.floor(random() * ceiling));
}
