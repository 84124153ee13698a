import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { Redis } from 'ioredis'

/**
 * The local ports of a process's TCP sockets, from /proc: which of Redis's clients belong to
 * which replica, without the replica having to name its connections.
 */
export function localTcpPorts(pid: number): Set<number> {
  const inodes = new Set<string>()
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`)
    } catch {
      continue // closed since the directory was read
    }
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match?.[1]) inodes.add(match[1])
  }
  const ports = new Set<number>()
  for (const table of ['tcp', 'tcp6']) {
    let text: string
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/)
      const local = fields[1]
      const inode = fields[9]
      if (!local || !inode || !inodes.has(inode)) continue
      ports.add(Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16))
    }
  }
  return ports
}

/** One line of `CLIENT LIST`, as field → value. */
export type RedisClientInfo = Record<string, string>

/** `CLIENT LIST TYPE pubsub`, parsed. */
export async function subscriberClients(redis: Redis): Promise<RedisClientInfo[]> {
  const text = (await redis.call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(' ')
          .map((field) => {
            const eq = field.indexOf('=')
            return [field.slice(0, eq), field.slice(eq + 1)]
          }),
      ),
    )
}

/**
 * The subscriber connection of the process `pid` on this Redis, if it has one: a classic one
 * (`SUBSCRIBE`) on a single server, or a sharded one (`SSUBSCRIBE`, `ssub=` above 0) on a
 * cluster node. `addr` is its address as Redis sees it, `id` its client id.
 */
export async function subscriberOf(
  redis: Redis,
  pid: number,
  kind: 'classic' | 'sharded' = 'classic',
): Promise<RedisClientInfo | undefined> {
  const ports = localTcpPorts(pid)
  const mine = (await subscriberClients(redis)).filter((client) => {
    const addr = client.addr ?? ''
    if (kind === 'sharded' && !(Number(client.ssub ?? 0) > 0)) return false
    return ports.has(Number(addr.slice(addr.lastIndexOf(':') + 1)))
  })
  if (mine.length > 1)
    throw new Error(`pid ${pid} has ${mine.length} ${kind} subscriber connections; expected one`)
  return mine[0]
}
