import { createHash, timingSafeEqual } from 'node:crypto'

/** Compares two buffers of equal length in constant time (`crypto.timingSafeEqual`). */
export type ConstantTimeCompare = (a: Buffer, b: Buffer) => boolean

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/**
 * A check of presented bearer tokens against the configured `ADMIN_TOKEN`.
 *
 * Both sides are reduced to 32-byte SHA-256 digests before one constant-time comparison, so
 * every presented token (empty, shorter, longer or of the right length) takes the same path:
 * there is no early return on a length mismatch, and neither the comparison's duration nor its
 * control flow says anything about the token's length or content. `compare` is a parameter
 * only so that a test can watch the comparison happen.
 *
 * @example const isAdmin = adminTokenCheck(env.ADMIN_TOKEN); if (!isAdmin(presented)) deny()
 */
export function adminTokenCheck(
  token: string,
  compare: ConstantTimeCompare = timingSafeEqual,
): (presented: string) => boolean {
  const expected = digest(token)
  return (presented) => compare(digest(presented), expected)
}
