// Where a replica's CPU went, by what the sampled stack was doing: socket writes by whose they
// were (postgres.js, ioredis, the HTTP response), then self time by package. Startup (module
// loading) is left out. For a profile written by src/cpu-profiler-preload.mjs (see
// docs/benchmarks.md "Write path").
// Usage: node loadtests/scripts/profile-buckets.mjs CPU.<pid>.cpuprofile <requests served>
import { readFileSync } from 'node:fs'

const [file, served] = process.argv.slice(2)
if (!file || !served) {
  console.error('usage: profile-buckets.mjs <file.cpuprofile> <requests served>')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8'))
const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
const parents = new Map()
for (const node of profile.nodes)
  for (const child of node.children ?? []) parents.set(child, node.id)

const SOCKET_WRITE = /^(writeBuffer|writev|writeUtf8String) /
const calls = (stack, pattern) => stack.some((frame) => pattern.test(frame))
const selfIn = (stack, part) => stack[0].includes(part)
const BUCKETS = [
  ['startup', (s) => calls(s, /Module\._load|compileSourceTextModule|module_job|swagger-ui/)],
  ['PostgreSQL socket writes', (s) => calls(s, /^nextWrite .*postgres/) && calls(s, SOCKET_WRITE)],
  ['Redis socket writes', (s) => calls(s, /^sendCommand /) && calls(s, SOCKET_WRITE)],
  ['HTTP response socket writes', (s) => calls(s, SOCKET_WRITE)],
  ['postgres.js', (s) => selfIn(s, 'postgres@')],
  ['ioredis', (s) => selfIn(s, 'ioredis@')],
  ['zod', (s) => selfIn(s, 'zod@')],
  ['Hono and its Node adapter', (s) => selfIn(s, 'hono')],
  ['cache-core', (s) => selfIn(s, 'packages/cache-core')],
  ['apps/api', (s) => selfIn(s, 'apps/api')],
  ['socket reads', (s) => calls(s, /^onStreamRead /)],
  ['garbage collection', (s) => s[0].startsWith('(garbage collector)')],
  ['other (microtasks, timers, HTTP parser, Node streams)', () => true],
]

const stacks = new Map()
const stackOf = (id) => {
  let stack = stacks.get(id)
  if (stack) return stack
  stack = []
  for (let at = id; at !== undefined; at = parents.get(at)) {
    const { functionName, url } = nodes.get(at).callFrame
    stack.push(`${functionName} ${url}`)
  }
  stacks.set(id, stack)
  return stack
}
const spent = new Map()
profile.samples.forEach((id, i) => {
  if (nodes.get(id).callFrame.functionName === '(idle)') return
  const [name] = BUCKETS.find(([, matches]) => matches(stackOf(id)))
  spent.set(name, (spent.get(name) ?? 0) + (profile.timeDeltas[i] ?? 0))
})
const busy = [...spent].reduce((sum, [name, us]) => (name === 'startup' ? sum : sum + us), 0)
const perRequest = (us) => Math.round(us / Number(served))
console.log(`${(busy / 1e6).toFixed(2)} s busy after startup: ${perRequest(busy)} µs per request`)
for (const [name] of BUCKETS.slice(1)) {
  const us = spent.get(name) ?? 0
  console.log(
    `${((100 * us) / busy).toFixed(1).padStart(5)}%  ${String(perRequest(us)).padStart(5)} µs  ${name}`,
  )
}
