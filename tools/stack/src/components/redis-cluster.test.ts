import { describe, expect, it } from 'vitest'
import { resolveStackConfig } from '../config.js'
import { redisComponentName } from './redis-cluster.js'

describe('redisComponentName', () => {
  const single = resolveStackConfig()
  const cluster = resolveStackConfig({ redisTopology: 'cluster' })

  it('names the one Redis, or a node of the cluster', () => {
    expect(redisComponentName(single, undefined)).toBe('redis')
    expect(redisComponentName(cluster, 1)).toBe('redis-1')
    expect(redisComponentName(cluster, 6)).toBe('redis-6')
  })

  it('refuses a node of one Redis, and a missing or unknown node of a cluster', () => {
    expect(() => redisComponentName(single, 2)).toThrow(/runs one Redis, not a cluster/)
    expect(() => redisComponentName(cluster, undefined)).toThrow(/name its node, 1 to 6/)
    expect(() => redisComponentName(cluster, 7)).toThrow(/name its node, 1 to 6 \(got 7\)/)
  })
})
