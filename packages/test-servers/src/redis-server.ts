import {
  findBinary,
  freePort,
  type SpawnedProcess,
  spawnAs,
  stopProcess,
  waitForPort,
} from './processes.js'

/** A redis-server owned by a test: started on a free port, stopped by `stop()`. */
export interface RedisServer {
  readonly port: number
  readonly url: string
  /** Stops the server gracefully (no persistence is configured, so its data is gone). */
  stop(): Promise<void>
  /** Kills the server with SIGKILL, as a crash would. */
  kill(): Promise<void>
  /** Starts the server again on the same port, empty. */
  start(): Promise<void>
}

const INSTALL_HINT = 'redis-server not found. Install it with: sudo apt-get install -y redis-server'

/**
 * Starts a throw-away redis-server on a free loopback port with persistence off.
 * @example const redis = await startRedisServer(); afterAll(() => redis.stop())
 */
export async function startRedisServer(): Promise<RedisServer> {
  const binary = findBinary('redis-server', ['/usr/sbin', '/usr/local/bin'])
  if (!binary) throw new Error(INSTALL_HINT)
  const port = await freePort()
  let current: SpawnedProcess | undefined

  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
    current = spawnAs(undefined, binary, args)
    try {
      await waitForPort(port, 15_000, 'redis-server')
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${current.output()}`)
    }
  }
  const halt = async (signal: NodeJS.Signals) => {
    if (current) await stopProcess(current.child, signal)
    current = undefined
  }

  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    start,
  }
}
