/** The median of some figures (the mean of the middle two when their count is even); NaN when empty. */
export function median(values: readonly number[]): number {
  const xs = [...values].sort((a, b) => a - b)
  const mid = Math.floor(xs.length / 2)
  return xs.length % 2 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2
}
