import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.js'
import {
  eventually,
  read,
  startApiProcess,
  startCluster,
  type TestReplica,
  write,
} from './harness.js'

// The screenshot the docs show is copied from here (gitignored: every run rewrites it).
const OUTPUT_DIR = fileURLToPath(new URL('../test-output/', import.meta.url))
const LIMIT = 2

// The functions handed to the page run in the browser; this is what they use of its document
// (the package's types leave the DOM out, for the API's own code).
interface PageElement {
  textContent: string | null
  children: ArrayLike<PageElement>
  dataset: Record<string, string | undefined>
}
declare const document: {
  body: PageElement
  querySelector(selector: string): PageElement | null
  querySelectorAll(selector: string): ArrayLike<PageElement>
}

const {
  servers,
  replicas: [a, b, c],
} = await startCluster(
  { REPLICA_ID: 'replica-a' },
  { REPLICA_ID: 'replica-b' },
  { REPLICA_ID: 'replica-c', DASHBOARD_MAX_CLIENTS: String(LIMIT) },
)
const replicas = [a, b, c]
// What server.ts does at start: each replica shares its counters every second.
for (const replica of replicas) replica.deps.cluster?.start()

/** Reads and writes on every replica until stopped: the load the dashboard is to show. */
function driveLoad(): () => Promise<void> {
  let running = true
  const worker = async (writer: TestReplica, reader: TestReplica, n: number) => {
    for (let i = 0; running; i++) {
      const key = `dash-${n}-${i % 20}`
      await write(writer, key, `v${i}`)
      for (let r = 0; r < 5 && running; r++) await read(reader, key)
    }
  }
  const workers = replicas.map((writer, n) =>
    worker(writer, replicas[(n + 1) % 3] as TestReplica, n),
  )
  return async () => {
    running = false
    await Promise.all(workers)
  }
}

/** Opens an event stream over a real socket; `close` hangs up as a browser tab would. */
async function openStream(replica: Pick<TestReplica, 'url'>) {
  const controller = new AbortController()
  const response = await fetch(`${replica.url}/dashboard/events`, { signal: controller.signal })
  const reader = response.ok ? response.body?.getReader() : undefined
  return {
    response,
    async firstEvent(): Promise<string> {
      let text = ''
      while (!text.includes('\n\n')) {
        const chunk = await reader?.read()
        if (!chunk || chunk.done) break
        text += new TextDecoder().decode(chunk.value)
      }
      return text
    },
    ended: async () => (await reader?.read())?.done,
    close: () => controller.abort(),
  }
}

const gauge = async (replica: TestReplica) => {
  const metrics = await (await replica.request('/metrics')).text()
  return Number(/^strata_dashboard_clients\{[^}]*\} (\d+)$/m.exec(metrics)?.[1])
}

describe('/dashboard in a real browser', () => {
  let stopLoad: (() => Promise<void>) | undefined
  afterAll(() => stopLoad?.())

  it('shows the 3 replicas under load, and its numbers move between two updates', async () => {
    stopLoad = driveLoad()
    const browser = await launchChromium()
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 600 } })
      const outside: string[] = []
      page.on('request', (request) => {
        if (!request.url().startsWith(a.url)) outside.push(request.url())
      })
      await page.goto(`${a.url}/dashboard`)
      await page.waitForFunction(() => document.querySelectorAll('#rows tr').length === 3, null, {
        timeout: 30_000,
      })
      expect(
        await page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => r.dataset.replica)),
      ).toEqual(['replica-a', 'replica-b', 'replica-c'])
      expect(await page.locator('[data-total="replicas"]').textContent()).toBe('3')

      const before = await page.evaluate(() => ({
        updates: Number(document.body.dataset.updates),
        reads: document.querySelector('[data-total="reads"]')?.textContent,
      }))
      await page.waitForFunction(
        ({ updates, reads }) =>
          Number(document.body.dataset.updates) > updates &&
          document.querySelector('[data-total="reads"]')?.textContent !== reads,
        before,
        { timeout: 30_000 },
      )
      // Rates need two flushes of a replica's row: every replica shows requests/s once they came.
      await page.waitForFunction(
        () =>
          Array.from(document.querySelectorAll('#rows tr')).every(
            (row) => Number(row.children[3]?.textContent) > 0,
          ),
        null,
        { timeout: 30_000 },
      )
      // A few more seconds of history make the charts readable in the screenshot.
      const shown = Number(await page.evaluate(() => document.body.dataset.updates))
      await page.waitForFunction((n) => Number(document.body.dataset.updates) >= n + 10, shown, {
        timeout: 30_000,
      })
      mkdirSync(OUTPUT_DIR, { recursive: true })
      await page.screenshot({ path: `${OUTPUT_DIR}dashboard.png`, fullPage: true })
      expect(outside).toEqual([])
    } finally {
      await browser.close()
      await stopLoad()
    }
  }, 180_000)
})

describe('/dashboard shows the consistency SLI when the rows carry it, "–" when not', () => {
  const row = (id: string, sli: Record<string, number>) => ({
    replica_id: id,
    cache_mode: 'multi',
    bus_state: 'up',
    updated_at: 1_000,
    reads: 10,
    invalidations_sent: 1,
    invalidations_received: 2,
    l1_size: 1,
    l1_max_size: 1000,
    ...sli,
  })
  const views = {
    with: {
      replicas: [
        row('with-sli', { consistency_checks: 400, consistency_stale: 1 }),
        row('without', {}),
      ],
      totals: { replicas: 2, reads: 20, consistency_nines: 2.6, consistency_bound_ms: 60 },
    },
    without: { replicas: [row('old', {})], totals: { replicas: 1, reads: 10 } },
  }

  it.each(Object.entries(views))(
    '%s the SLI fields',
    async (name, cluster) => {
      const browser = await launchChromium()
      try {
        const page = await browser.newPage()
        // The stream is played from here: one view, exactly as the replica would send it.
        await page.route('**/dashboard/events', (route) =>
          route.fulfill({
            contentType: 'text/event-stream',
            body: `event: view\ndata: ${JSON.stringify({ replica_id: 'replica-a', cluster })}\n\n`,
          }),
        )
        await page.goto(`${a.url}/dashboard`)
        await page.waitForFunction(() => Number(document.body.dataset.updates) >= 1, null, {
          timeout: 30_000,
        })
        const sli = await page.locator('[data-total="sli"]').textContent()
        const label = await page.locator('#sli-label').textContent()
        const cells = await page
          .locator('#rows tr')
          .evaluateAll((rows) => rows.map((r) => r.children[10]?.textContent))
        if (name === 'with') {
          expect([sli, label, cells]).toEqual([
            '2.60',
            'consistency (nines within 60 ms)',
            ['400 / 1', '–'],
          ])
        } else {
          expect([sli, label, cells]).toEqual(['–', 'consistency (nines)', ['–']])
        }
      } finally {
        await browser.close()
      }
    },
    60_000,
  )
})

describe('/dashboard/events', () => {
  it('serves DASHBOARD_MAX_CLIENTS streams from one producer, refuses one more with 503, and stops when they go', async () => {
    const streams = await Promise.all(Array.from({ length: LIMIT }, () => openStream(c)))
    for (const stream of streams) {
      expect(stream.response.status).toBe(200)
      expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      // Any nginx in front passes each view on at once (scripts/test/nginx-dashboard.test.ts).
      expect(stream.response.headers.get('x-accel-buffering')).toBe('no')
      const event = await stream.firstEvent()
      expect(event).toMatch(/^event: view\ndata: \{"replica_id":"replica-c","cluster":\{/)
    }
    expect(c.deps.dashboard.clients).toBe(LIMIT)
    expect(c.deps.dashboard.producing).toBe(true)
    expect(await gauge(c)).toBe(LIMIT)

    const refused = await openStream(c)
    expect(refused.response.status).toBe(503)
    expect(await refused.response.json()).toMatchObject({
      success: false,
      error: { code: 'DASHBOARD_FULL', message: expect.stringMatching(/DASHBOARD_MAX_CLIENTS/) },
    })

    // Each hang-up is noticed by the server: the client leaves, and with the last the producer.
    streams[0]?.close()
    await eventually(async () => expect(c.deps.dashboard.clients).toBe(LIMIT - 1), 15_000)
    expect(c.deps.dashboard.producing).toBe(true)
    streams[1]?.close()
    await eventually(async () => expect(c.deps.dashboard.clients).toBe(0), 15_000)
    expect(c.deps.dashboard.producing).toBe(false)
    expect(await gauge(c)).toBe(0)

    const again = await openStream(c)
    expect(again.response.status).toBe(200)
    again.close()
    await eventually(async () => expect(c.deps.dashboard.producing).toBe(false), 15_000)
  }, 90_000)

  it('ends every open stream when the replica drains, and refuses new ones', async () => {
    const stream = await openStream(b)
    expect(await stream.firstEvent()).toMatch(/^event: view/)
    b.deps.dashboard.close()
    // Reads past any view already on its way until the server ends the response.
    await eventually(async () => expect(await stream.ended()).toBe(true), 15_000)
    expect(b.deps.dashboard.producing).toBe(false)
    const refused = await openStream(b)
    expect(refused.response.status).toBe(503)
    expect(await refused.response.json()).toMatchObject({
      error: { code: 'DASHBOARD_FULL', message: expect.stringMatching(/shutting down/) },
    })
  }, 60_000)
})

describe('a replica process draining with a dashboard open', () => {
  it('ends the stream and exits 0, well before SHUTDOWN_TIMEOUT', async () => {
    // Without the streams ended, the listener would wait for them and the drain time out (exit 1).
    const replica = await startApiProcess(servers, { REPLICA_ID: 'drains', SHUTDOWN_TIMEOUT: '20' })
    try {
      const stream = await openStream({ url: replica.base })
      expect(await stream.firstEvent()).toMatch(/^event: view/)
      const started = performance.now()
      replica.child.kill('SIGTERM')
      expect(await replica.exited).toBe(0)
      expect(performance.now() - started).toBeLessThan(15_000)
    } finally {
      await replica.stop()
    }
  }, 60_000)
})

describe('GET /dashboard', () => {
  it('is one self-contained page: no URL to anywhere, and a policy that lets it load nothing else', async () => {
    const response = await a.request('/dashboard')
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    const policy = response.headers.get('content-security-policy') ?? ''
    expect(policy).toContain("default-src 'none'")
    expect(policy).toContain("connect-src 'self'")
    const html = await response.text()
    expect(html).not.toMatch(/https?:\/\//i)
    expect(html).not.toMatch(/\b(src|href)=/i)
    expect(html).toContain("new EventSource('/dashboard/events')")
  })

  it('is in the OpenAPI document with its event stream', async () => {
    const spec = (await (await a.request('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
    }
    expect(spec.paths['/dashboard']?.get).toBeDefined()
    expect(Object.keys(spec.paths['/dashboard/events']?.get?.responses ?? {})).toEqual([
      '200',
      '503',
    ])
  })
})

describe('the recent invalidation lag in the cluster view', () => {
  it('is in the row of a replica that heard an invalidation, as /cache-stats shows it', async () => {
    await write(a, 'lag-key', 'v')
    await eventually(async () => {
      const body = (await (await b.request('/cache-stats')).json()) as {
        cluster: { replicas: Record<string, unknown>[] }
      }
      const own = body.cluster.replicas.find((row) => row.replica_id === 'replica-b')
      expect(own?.invalidation_lag_max_ms).toEqual(expect.any(Number))
      expect(own?.invalidation_lag_p50_ms).toEqual(expect.any(Number))
    })
  })
})
