import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ClusterView } from './cluster-stats.js'
import { type DashboardClient, DashboardFeed } from './dashboard-feed.js'

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
