import { describe, expect, it } from 'vitest'
import { REDIS_CLUSTER_BUS_OFFSET } from './config.js'
import { freeStackPorts, isPortFree } from './ports.js'

describe('freeStackPorts', () => {
  it('keeps the single-Redis layout: nginx, the replicas, Redis, PostgreSQL', async () => {
    const ports = await freeStackPorts(2)
    expect(ports.replicaBase).toBe(ports.nginx + 1)
    expect(ports.redis).toBe(ports.nginx + 3)
    expect(ports.postgres).toBe(ports.nginx + 4)
  })

  it("leaves six ports for a cluster's nodes, and their bus ports free below the ephemeral range", async () => {
    const ports = await freeStackPorts(2, undefined, 'cluster')
    expect(ports.redis).toBe(ports.nginx + 3)
    expect(ports.postgres).toBe(ports.redis + 6)
    for (let node = 0; node < 6; node++) {
      const bus = ports.redis + node + REDIS_CLUSTER_BUS_OFFSET
      expect(bus).toBeLessThan(32_768)
      expect(await isPortFree(bus)).toBe(true)
    }
  })
})
