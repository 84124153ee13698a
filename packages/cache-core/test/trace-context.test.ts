import { describe, expect, it } from 'vitest'
import { nextEvent, useRedisTestbed, VersionedTable } from './helpers.js'

// The `traceparent` option: the writer's trace context travels in its invalidation, and each
// receiver's `invalidate` event reports it, so a tracer can link every eviction to the write.

const bed = useRedisTestbed()
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'

describe('trace context on the bus', () => {
  it("carries the writer's traceparent to every receiver's invalidate event", async () => {
    const table = new VersionedTable()
    let calls = 0
    const writer = await bed.caches.create({
      loader: table.loader,
      traceparent: () => {
        calls++
        return TRACEPARENT
      },
    })
    const reader = await bed.caches.create({ loader: table.loader })
    const heard = nextEvent(reader, 'invalidate', (e) => e.key === 'k')
    await writer.invalidate('k', 1)
    expect(await heard).toMatchObject({
      key: 'k',
      version: 1,
      local: false,
      traceparent: TRACEPARENT,
    })
    expect(calls).toBe(1)
  })

  it('sends none without the option, or when the hook has none', async () => {
    const table = new VersionedTable()
    const untraced = await bed.caches.create({ loader: table.loader })
    const idle = await bed.caches.create({ loader: table.loader, traceparent: () => undefined })
    const reader = await bed.caches.create({ loader: table.loader })
    const spy = bed.redis.duplicate()
    try {
      await spy.subscribe(`${bed.prefix}:bus`)
      for (const [cache, key] of [
        [untraced, 'a'],
        [idle, 'b'],
      ] as const) {
        // The payload as it travels, and the event a receiver reports for it.
        const sent = new Promise<string>((resolve) => {
          spy.on('message', (_channel, payload: string) => {
            if (payload.includes(`"key":"${key}"`)) resolve(payload)
          })
        })
        const heard = nextEvent(reader, 'invalidate', (e) => e.key === key)
        await cache.invalidate(key, 1)
        expect((await heard).traceparent).toBeUndefined()
        expect(await sent).not.toContain('traceparent')
      }
    } finally {
      spy.disconnect()
    }
  })
})
