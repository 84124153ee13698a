import { createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { DatabaseTimeoutError, deadlineSocket } from './deadline-socket.js'

// A fake PostgreSQL that answers only what the test tells it to: the watchdog reads message
// framing only, so a few hand-made messages are enough.
const message = (type: string, body = Buffer.alloc(0)) => {
  const header = Buffer.alloc(5)
  header.write(type, 0, 'latin1')
  header.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([header, body])
}
const STARTUP = (() => {
  const b = Buffer.alloc(8)
  b.writeInt32BE(8, 0)
  b.writeInt32BE(196_608, 4) // protocol 3.0
  return b
})()
const READY = message('Z', Buffer.from('I'))
const QUERY = message('Q', Buffer.from('SELECT 1\0'))

let server: Server | undefined
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
})

/** A listening fake server; resolves its port and a promise of the accepted socket. */
async function fakeServer(): Promise<{ port: number; accepted: Promise<Socket> }> {
  let accept: (socket: Socket) => void = () => {}
  const accepted = new Promise<Socket>((resolve) => {
    accept = resolve
  })
  server = createServer((socket) => accept(socket))
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  return { port: typeof address === 'object' && address ? address.port : 0, accepted }
}

const closed = (socket: Socket) =>
  new Promise<Error | undefined>((resolve) => {
    let failure: Error | undefined
    socket.on('error', (error) => {
      failure = error
    })
    socket.once('close', () => resolve(failure))
  })

/** Resolves once `socket` has received `bytes` bytes. */
const received = (socket: Socket, bytes: number) =>
  new Promise<void>((resolve) => {
    let got = 0
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length
      if (got >= bytes) resolve()
    })
  })

describe('deadlineSocket', () => {
  it('destroys a connection whose oldest request goes unanswered, even behind answered ones', async () => {
    const { port, accepted } = await fakeServer()
    const socket = deadlineSocket(100)({ host: ['127.0.0.1'], port: [port] })
    const outcome = closed(socket)
    socket.write(STARTUP)
    const peer = await accepted
    const arrived = received(peer, STARTUP.length + 2 * QUERY.length)
    // Two pipelined queries; the server answers the startup and the first query only.
    socket.write(Buffer.concat([QUERY, QUERY]))
    await arrived
    peer.write(READY)
    peer.write(READY)
    const started = performance.now()
    const error = await outcome
    expect(error).toBeInstanceOf(DatabaseTimeoutError)
    expect(performance.now() - started).toBeGreaterThanOrEqual(90)
    peer.destroy()
  })

  it('keeps a connection whose answers arrive split across chunks, and an idle one', async () => {
    const { port, accepted } = await fakeServer()
    const socket = deadlineSocket(100)({ host: ['127.0.0.1'], port: [port] })
    const outcome = closed(socket)
    socket.write(STARTUP)
    socket.write(QUERY)
    const peer = await accepted
    await received(peer, STARTUP.length + QUERY.length)
    const answers = Buffer.concat([READY, READY])
    const back = received(socket, answers.length)
    // One byte at a time: headers are split too.
    for (const byte of answers) peer.write(Buffer.from([byte]))
    await back
    // Everything is answered: nothing may time out now. The server closes after three deadlines
    // (a timer here only bounds the test; the assertion is that the close was the server's).
    setTimeout(() => peer.end(), 300)
    expect(await outcome).toBeUndefined()
  })
})
