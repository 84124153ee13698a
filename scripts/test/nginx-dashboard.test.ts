import { describe, expect, it } from 'vitest'
import { useNginxFixture } from './nginx-fixture.js'

/** A promise and the function that settles it, for a test to decide when something happens. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {}
  const promise = new Promise<void>((settle) => {
    resolve = settle
  })
  return { promise, resolve }
}

const secondView = deferred()
const upstreamHungUp = deferred()

describe('nginx in front of the live dashboard stream', () => {
  // A stand-in replica answering /dashboard/events as the API does (X-Accel-Buffering: no), its
  // second view held back until the test says so.
  const nginx = useNginxFixture({
    upstream: (req, res) => {
      if (req.url !== '/dashboard/events') {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"alive"}')
        return
      }
      res.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        'X-Accel-Buffering': 'no',
      })
      res.write('event: view\ndata: {"n":1}\n\n')
      void secondView.promise.then(() => res.write('event: view\ndata: {"n":2}\n\n'))
      res.on('close', upstreamHungUp.resolve)
    },
  })

  it('passes each view on as the replica writes it, and hangs up on the replica when the client goes', async () => {
    const controller = new AbortController()
    const response = await fetch(`${nginx().url}/dashboard/events`, { signal: controller.signal })
    expect(response.status).toBe(200)
    const reader = response.body?.getReader()
    if (!reader) throw new Error('no body')
    let text = ''
    const readUntil = async (marker: string) => {
      while (!text.includes(marker)) {
        const chunk = await reader.read()
        if (chunk.done) throw new Error(`the stream ended before ${marker}: ${text}`)
        text += new TextDecoder().decode(chunk.value)
      }
    }
    // The first view arrives while the replica still holds the second: nginx buffered nothing.
    await readUntil('{"n":1}')
    expect(text).not.toContain('{"n":2}')
    secondView.resolve()
    await readUntil('{"n":2}')
    controller.abort()
    // The replica sees the hang-up (and so drops the client and, with the last, its producer).
    await upstreamHungUp.promise
  }, 30_000)
})
