import { randomBytes } from 'node:crypto'
import { type RedisServer, startRedisServer } from '@strata/test-servers'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { loadScripts } from '../src/index.js'
import { CacheFactory, narrowAclRules, nextEvent, VersionedTable } from './helpers.js'

const PREFIX = 'app'

let server: RedisServer
let admin: Redis
const password = randomBytes(16).toString('hex')
const caches = new CacheFactory(
  () => server.urlFor('app'),
  () => PREFIX,
)

beforeAll(async () => {
  server = await startRedisServer({
    password: randomBytes(16).toString('hex'),
    users: [{ name: 'app', password, rules: narrowAclRules(PREFIX) }],
  })
  admin = new Redis(server.url)
  // The user may not run Lua of its own: an admin loads the cache's scripts.
  await loadScripts(admin)
})
afterEach(() => caches.closeAll())
afterAll(async () => {
  admin?.disconnect()
  await server?.stop()
})

describe('a cache on a Redis URL with a user name, a password and a narrow ACL', () => {
  it('reads, fences, invalidates across instances and clears, and Redis refuses it nothing', async () => {
    const warn = vi.spyOn(console, 'warn')
    await admin.acl('LOG', 'RESET')
    const table = new VersionedTable()
    const a = await caches.create({ loader: table.loader, l2: { scripts: 'preloaded' } })
    const b = await caches.create({ loader: table.loader, l2: { scripts: 'preloaded' } })
    expect(a.health()).toMatchObject({ l2: 'up', bus: 'up' })

    table.write('k', 'one')
    expect(await a.get('k')).toMatchObject({ level: 'DB', value: 'one' })
    expect(await b.get('k')).toMatchObject({ level: 'L2', value: 'one' })
    const version = table.write('k', 'two')
    const evicted = nextEvent(b, 'invalidate', (e) => e.key === 'k')
    await a.invalidate('k', version)
    await evicted
    expect(await b.get('k')).toMatchObject({ value: 'two', version })
    await a.clear()

    // Both connections of each instance (commands and the subscriber) authenticated as `app`,
    // and no command they sent was refused: the rules above are all a cache needs.
    expect(await admin.acl('LOG')).toEqual([])
    const clients = await admin.client('LIST')
    expect(String(clients).match(/ user=app /g)?.length).toBe(4)
    // ioredis's ready check (INFO) would have been refused and warned on the console.
    expect(warn).not.toHaveBeenCalled()
    warn.mockRestore()
  })
})
