import { createServer } from 'node:net'

/** True when nothing listens on `port` (checked on all interfaces, as nginx binds them). */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () =>
      server.close(() => resolve(true)),
    )
  })
}

/**
 * Finds `count` consecutive free ports, trying `preferred` first and then other blocks below
 * the kernel's ephemeral range (32768+), where it picks the source ports of outgoing
 * connections: a port chosen there could be taken by a replica's connection to Redis before
 * nginx gets to bind it.
 */
export async function freePortBlock(count: number, preferred?: number): Promise<number> {
  const candidates = preferred === undefined ? [] : [preferred]
  for (let i = 0; i < 60; i++) candidates.push(20_000 + Math.floor(Math.random() * 120) * 100)
  for (const base of candidates) {
    let free = true
    for (let port = base; port < base + count && free; port++) free = await isPortFree(port)
    if (free) return base
  }
  throw new Error(`found no ${count} consecutive free ports between 20000 and 32000`)
}

/** Ports of a stack, all on 127.0.0.1. */
export interface StackPorts {
  nginx: number
  /** Replica i (1-based) listens on `replicaBase + i - 1`. */
  replicaBase: number
  redis: number
  postgres: number
}

/** Ports for a stack of `replicas` in one free block: nginx, the replicas, Redis, PostgreSQL. */
export async function freeStackPorts(replicas: number, preferred?: number): Promise<StackPorts> {
  const base = await freePortBlock(replicas + 3, preferred)
  return {
    nginx: base,
    replicaBase: base + 1,
    redis: base + replicas + 1,
    postgres: base + replicas + 2,
  }
}

/** The ports as the stack's configuration names them (see `resolveStackConfig`). */
export const portOptions = (ports: StackPorts) => ({
  nginxPort: ports.nginx,
  replicaPortBase: ports.replicaBase,
  redisPort: ports.redis,
  postgresPort: ports.postgres,
})
