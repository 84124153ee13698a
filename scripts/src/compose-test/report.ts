/** Figures for the summary, in the order measured. */
export const figures: [string, string][] = []
/** Every check that failed, by what it checked. */
export const failures: string[] = []

export const figure = (name: string, value: string) => {
  figures.push([name, value])
  console.log(`     ${name}: ${value}`)
}
export const check = (ok: boolean, what: string) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) failures.push(what)
}
export const step = (title: string) => console.log(`\n\x1b[1m--- ${title}\x1b[0m`)
export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** One answer through nginx. */
export interface Answer {
  status: number
  /** The body parsed as JSON; `{}` when it is not JSON. */
  json: Record<string, unknown>
  text: string
  headers: Headers
  /** X-Replica-Id: '' when nginx answered itself. */
  replica: string
}

/** One HTTP exchange through nginx, with its JSON body and the replica that answered. */
export async function http(
  base: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    signal: AbortSignal.timeout(10_000),
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
  const text = await res.text()
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text) as Record<string, unknown>
  } catch {
    // Not JSON: the assertions report the status.
  }
  return {
    status: res.status,
    json,
    text,
    headers: res.headers,
    replica: res.headers.get('x-replica-id') ?? '',
  }
}

/** The `error.code` of a JSON error body, or '' when there is none. */
export const errorCode = (json: Record<string, unknown>): string =>
  String((json.error as { code?: unknown } | undefined)?.code ?? '')
