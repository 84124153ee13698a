import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import { RequestError } from '@hono/node-server'
import { ERROR_STATUS, type ErrorCode, errorBody } from '../errors.js'
import type { Logger } from '../logger.js'

// Requests that never reach the app: node's HTTP parser refuses them, or the adapter cannot
// build a `Request` from them. Node and the adapter answer those with bare, bodiless 400s; here
// they get the API's JSON error like every other 4xx, so clients parse one error shape.

const REASONS: Partial<Record<number, string>> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
}

/** A complete HTTP/1.1 error response, written straight to a socket; the connection closes. */
function rawError(code: ErrorCode, message: string, replicaId: string): string {
  const status = ERROR_STATUS[code]
  const body = JSON.stringify(errorBody(code, message))
  return [
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `X-Replica-Id: ${replicaId}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n')
}

/** What node's parser error codes mean, as its own default handler maps them. */
function parserError(code: string | undefined): [ErrorCode, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return ['REQUEST_HEADER_TOO_LARGE', 'The request line or headers are too large']
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return ['PAYLOAD_TOO_LARGE', 'The chunk extensions are too large']
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return ['REQUEST_TIMEOUT', 'The request took too long to arrive']
    default:
      return ['BAD_REQUEST', 'The request is malformed and could not be parsed']
  }
}

/**
 * Answers, with the API's JSON errors, the requests node's HTTP server would refuse bare:
 * unparsable bytes, framing and oversized headers (`clientError`), `CONNECT` (which node would
 * drop without a word) and `Expect` values other than `100-continue` (node's bare 417).
 */
export function answerMalformedRequests(server: Server, replicaId: string): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // A client that went away, or a response already under way: nothing useful can be written.
    const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (error.code === 'ECONNRESET' || !socket.writable || pending?.headersSent) {
      socket.destroy()
      return
    }
    const [code, message] = parserError(error.code)
    socket.end(rawError(code, message, replicaId))
  })
  server.on('connect', (_request, socket: Socket) => {
    socket.end(
      rawError('METHOD_NOT_ALLOWED', 'CONNECT is not allowed: this is not a proxy', replicaId),
    )
  })
  server.on('checkExpectation', (request, response) => {
    const body = JSON.stringify(
      errorBody(
        'EXPECTATION_FAILED',
        `Unsupported expectation ${JSON.stringify(request.headers.expect)}`,
      ),
    )
    response.writeHead(ERROR_STATUS.EXPECTATION_FAILED, {
      'Content-Type': 'application/json',
      'X-Replica-Id': replicaId,
      Connection: 'close',
    })
    response.end(body)
  })
}

/**
 * The adapter's `errorHandler`: a request it could not turn into a `Request` (a bad Host, a
 * backslash in the path, an asterisk or odd absolute target) is a 400; anything else thrown
 * before the app answered is logged and becomes the API's 500.
 */
export const unparsableRequestHandler =
  (logger: Logger, replicaId: string) =>
  (error: unknown): Response => {
    const code: ErrorCode = error instanceof RequestError ? 'BAD_REQUEST' : 'INTERNAL'
    const message =
      code === 'BAD_REQUEST'
        ? `The request is malformed: ${(error as Error).message}`
        : 'Internal error'
    if (code === 'INTERNAL') logger.error({ err: error }, 'request failed before the app answered')
    return new Response(JSON.stringify(errorBody(code, message)), {
      status: ERROR_STATUS[code],
      headers: { 'Content-Type': 'application/json', 'X-Replica-Id': replicaId },
    })
  }
