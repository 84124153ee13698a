import { createServer } from 'node:net'
import { REDIS_CLUSTER_BUS_OFFSET, REDIS_CLUSTER_NODES, type RedisTopology } from './config.js'

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

/** Where {@link freePortBlock} may look, besides the block itself. */
export interface PortBlockOptions {
  /** The highest first port of a block it may pick at random. @default 31_900 */
  highestBase?: number
  /** More ports that must be free for a block starting at `base` (a cluster's bus ports). */
  alsoFree?: (base: number) => number[]
}

/**
 * Finds `count` consecutive free ports, trying `preferred` first and then other blocks below
 * the kernel's ephemeral range (32768+), where it picks the source ports of outgoing
 * connections: a port chosen there could be taken by a replica's connection to Redis before
 * nginx gets to bind it.
 */
export async function freePortBlock(
  count: number,
  preferred?: number,
  options: PortBlockOptions = {},
): Promise<number> {
  const blocks = Math.floor(((options.highestBase ?? 31_900) - 20_000) / 100) + 1
  const candidates = preferred === undefined ? [] : [preferred]
  for (let i = 0; i < 60; i++) candidates.push(20_000 + Math.floor(Math.random() * blocks) * 100)
  for (const base of candidates) {
    const ports = [
      ...Array.from({ length: count }, (_, index) => base + index),
      ...(options.alsoFree?.(base) ?? []),
    ]
    let free = true
    for (const port of ports) free = free && (await isPortFree(port))
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

/**
 * Ports for a stack of `replicas` in one free block: nginx, the replicas, Redis (a cluster's
 * nodes, one after the other), PostgreSQL. A cluster's block stays low enough that its bus ports
 * (+10000) are below the ephemeral range too.
 */
export async function freeStackPorts(
  replicas: number,
  preferred?: number,
  redis: RedisTopology = 'single',
): Promise<StackPorts> {
  const nodes = redis === 'cluster' ? REDIS_CLUSTER_NODES : 1
  const redisOffset = replicas + 1
  const busPorts = (base: number) =>
    Array.from(
      { length: nodes },
      (_, index) => base + redisOffset + index + REDIS_CLUSTER_BUS_OFFSET,
    )
  const base = await freePortBlock(
    replicas + 2 + nodes,
    preferred,
    redis === 'cluster' ? { highestBase: 22_600, alsoFree: busPorts } : {},
  )
  return {
    nginx: base,
    replicaBase: base + 1,
    redis: base + redisOffset,
    postgres: base + redisOffset + nodes,
  }
}

/** The ports as the stack's configuration names them (see `resolveStackConfig`). */
export const portOptions = (ports: StackPorts) => ({
  nginxPort: ports.nginx,
  replicaPortBase: ports.replicaBase,
  redisPort: ports.redis,
  postgresPort: ports.postgres,
})
