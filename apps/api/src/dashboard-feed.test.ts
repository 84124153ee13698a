import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClusterView } from './cluster-stats.js'
import { type DashboardClient, DashboardFeed, streamingClient } from './dashboard-feed.js'

const viewNumber = (n: number) =>
  ({ replicas: [], totals: { replicas: n } }) as unknown as ClusterView

function client(): DashboardClient & { views: ClusterView[]; ended: boolean } {
  return {
    views: [],
    ended: false,
    send(view) {
      this.views.push(view)
    },
    end() {
      this.ended = true
    },
  }
}

describe('DashboardFeed', () => {
  let built = 0
  let feed: DashboardFeed
  beforeEach(() => {
    vi.useFakeTimers()
    built = 0
    feed = new DashboardFeed({
      maxClients: 3,
      view: async () => viewNumber(++built),
      registry: new Registry(),
    })
  })
  afterEach(() => vi.useRealTimers())

  it('builds one view per second for all its clients, and a first one for each newcomer', async () => {
    const clients = [client(), client(), client()]
    for (const c of clients) feed.join(c)
    await vi.advanceTimersByTimeAsync(0)
    expect(built).toBe(3)
    await vi.advanceTimersByTimeAsync(3_000)
    expect(built).toBe(6)
    for (const [i, c] of clients.entries()) {
      expect(c.views.map((v) => v.totals.replicas)).toEqual([i + 1, 4, 5, 6])
    }
  })

  it('refuses a client beyond maxClients and takes one again once a client left', () => {
    const leaves = [client(), client(), client()].map((c) => feed.join(c))
    expect(feed.join(client())).toBeUndefined()
    leaves[0]?.()
    expect(feed.join(client())).toBeTypeOf('function')
  })

  it('stops producing when its last client leaves', async () => {
    const leaveA = feed.join(client())
    const leaveB = feed.join(client())
    leaveA?.()
    expect(feed.producing).toBe(true)
    leaveB?.()
    expect(feed.producing).toBe(false)
    await vi.advanceTimersByTimeAsync(5_000)
    expect(built).toBe(2)
  })

  it('skips a tick while the previous view is still being built', async () => {
    let finish: (view: ClusterView) => void = () => {}
    const slow = new DashboardFeed({
      maxClients: 1,
      view: () => {
        built++
        return new Promise((resolve) => {
          finish = resolve
        })
      },
      registry: new Registry(),
    })
    slow.join(client())
    await vi.advanceTimersByTimeAsync(5_000)
    // The newcomer's view and the first tick's: the four later ticks found it still building.
    expect(built).toBe(2)
    finish(viewNumber(0))
    slow.close()
  })

  it('ends every client and refuses new ones once closed', () => {
    const c = client()
    feed.join(c)
    feed.close()
    expect(c.ended).toBe(true)
    expect(feed.producing).toBe(false)
    expect(feed.join(client())).toBeUndefined()
  })
})

describe('streamingClient', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  /** A stream whose writes finish only when the test says so, as a peer that stops reading. */
  function stream() {
    const pending: Array<() => void> = []
    const written: number[] = []
    let ended = 0
    const sender = streamingClient(
      (view) => {
        written.push(view.totals.replicas)
        return new Promise<void>((resolve) => pending.push(resolve))
      },
      () => ended++,
      30_000,
    )
    return { sender, pending, written, ended: () => ended }
  }

  it('drops views while one is being written, and sends the next once it is taken', async () => {
    const s = stream()
    s.sender.send(viewNumber(1))
    s.sender.send(viewNumber(2))
    expect(s.written).toEqual([1])
    s.pending.shift()?.()
    await vi.advanceTimersByTimeAsync(0)
    s.sender.send(viewNumber(3))
    expect(s.written).toEqual([1, 3])
    expect(s.ended()).toBe(0)
  })

  it('ends a stream that has taken nothing for longer than the stall limit', async () => {
    const s = stream()
    s.sender.send(viewNumber(1))
    await vi.advanceTimersByTimeAsync(30_000)
    s.sender.send(viewNumber(2))
    // At the limit, not past it: still waiting.
    expect(s.ended()).toBe(0)
    await vi.advanceTimersByTimeAsync(1)
    s.sender.send(viewNumber(3))
    expect(s.ended()).toBe(1)
    expect(s.written).toEqual([1])
  })

  it('keeps a slow stream that takes each view within the limit', async () => {
    const s = stream()
    for (let i = 1; i <= 5; i++) {
      s.sender.send(viewNumber(i))
      await vi.advanceTimersByTimeAsync(29_000)
      s.pending.shift()?.()
      await vi.advanceTimersByTimeAsync(0)
    }
    expect(s.written).toEqual([1, 2, 3, 4, 5])
    expect(s.ended()).toBe(0)
  })
})
