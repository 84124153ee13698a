/** A source of uniform numbers in [0, 1). */
export type Random = () => number

/**
 * A seeded PRNG (sfc32: small, fast, passes PractRand to 2^40+), so that a run's key sequence
 * can be reproduced: each virtual user gets its own stream from `(seed, vu)`.
 */
export function seededRandom(seed: number, stream = 0): Random {
  let a = seed >>> 0
  let b = (0x9e3779b9 ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0
  let c = (0x243f6a88 + stream) >>> 0
  let d = 1
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0
    d = (d + 1) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) | 0
    return (t >>> 0) / 4_294_967_296
  }
  // The first outputs of a fresh sfc32 state are correlated with the seed; discard them.
  for (let i = 0; i < 16; i++) next()
  return next
}
