/**
 * Popularity classes of Zipf ranks (0-based): `#1`, `#2-10`, `#11-100`, `#101-1000`,
 * `#1001-10000`, `#10001+`. The summary breaks hit rates down by them, which shows where misses
 * come from: the hot head (invalidations by writes) or the long tail (first reads).
 */
export function rankGroup(rank: number): string {
  if (rank === 0) return '#1'
  if (rank < 10) return '#2-10'
  if (rank < 100) return '#11-100'
  if (rank < 1_000) return '#101-1000'
  if (rank < 10_000) return '#1001-10000'
  return '#10001+'
}

/** The classes in order, for tables. */
export const RANK_GROUPS = [
  '#1',
  '#2-10',
  '#11-100',
  '#101-1000',
  '#1001-10000',
  '#10001+',
] as const
