import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchChromium } from './browser.js'
import { type Servers, startReplica, startServers, type TestReplica } from './harness.js'

let servers: Servers
let api: TestReplica
let server: ReturnType<typeof serve>
let base = ''

beforeAll(async () => {
  servers = await startServers()
  api = await startReplica(servers)
  await new Promise<void>((resolve) => {
    server = serve(
      { fetch: api.app.fetch, port: 0, hostname: '127.0.0.1' },
      (info: AddressInfo) => {
        base = `http://127.0.0.1:${info.port}`
        resolve()
      },
    )
  })
})
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve))
  await api?.close()
  await servers?.stop()
})

describe('/docs in a real browser', () => {
  it('renders the /write and /read/{key} operations from the served OpenAPI document', async () => {
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      const outside: string[] = []
      page.on('request', (request) => {
        if (!request.url().startsWith(base) && !request.url().startsWith('data:'))
          outside.push(request.url())
      })
      await page.goto(`${base}/docs`)
      const write = page.locator('.opblock-summary-path', { hasText: /^\/write$/ })
      const read = page.locator('.opblock-summary-path', { hasText: /^\/read\/\{key\}$/ })
      await write.first().waitFor({ timeout: 20_000 })
      await read.first().waitFor({ timeout: 20_000 })
      expect(await page.locator('.opblock-post .opblock-summary-path').allInnerTexts()).toContain(
        '/write',
      )
      expect(await page.locator('.opblock-get .opblock-summary-path').allInnerTexts()).toContain(
        '/read/{key}',
      )
      expect(outside).toEqual([])
    } finally {
      await browser.close()
    }
  })
})
