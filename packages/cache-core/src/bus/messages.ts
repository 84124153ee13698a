import { z } from 'zod'

const origin = z.string().min(1)

/** A key was written or deleted at `version`: drop it from L1 and refuse older loads. */
const invalidateMessage = z.object({
  v: z.literal(1),
  type: z.literal('invalidate'),
  key: z.string().min(1),
  version: z.number().int().nonnegative(),
  origin,
})

/** The cache was cleared: drop all of L1 and read L2 under `generation` from now on. */
const clearMessage = z.object({
  v: z.literal(1),
  type: z.literal('clear'),
  generation: z.number().int().nonnegative(),
  origin,
})

const busMessageSchema = z.discriminatedUnion('type', [invalidateMessage, clearMessage])

/** Every message on the bus. `v` versions the format so replicas of mixed releases can coexist. */
export type BusMessage = z.infer<typeof busMessageSchema>
export type InvalidateMessage = z.infer<typeof invalidateMessage>
export type ClearMessage = z.infer<typeof clearMessage>

/** Parses one raw bus payload; an error string says why it was rejected. */
export function parseBusMessage(
  raw: string,
): { ok: true; message: BusMessage } | { ok: false; error: string } {
  let data: unknown
  try {
    data = JSON.parse(raw)
  } catch {
    return { ok: false, error: 'not JSON' }
  }
  const parsed = busMessageSchema.safeParse(data)
  if (!parsed.success)
    return { ok: false, error: parsed.error.issues[0]?.message ?? 'invalid message' }
  return { ok: true, message: parsed.data }
}
