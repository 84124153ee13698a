import { chmodSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type RequestListener, type Server } from 'node:http'
import { createConnection } from 'node:net'
import { join } from 'node:path'
import { locateBinaries } from '@strata/stack/binaries'
import { type RunningComponent, stopComponent } from '@strata/stack/components/launch'
import { startNginx } from '@strata/stack/components/nginx'
import { type NginxLimits, resolveStackConfig, stackPaths } from '@strata/stack/config'
import { freeStackPorts, portOptions } from '@strata/stack/ports'
import { quietReporter } from '@strata/stack/reporter'
import { makeDataDir } from '@strata/stack/testing'
import { afterAll, beforeAll } from 'vitest'

/** nginx from the stack's real configuration, in front of one stand-in replica. */
export interface NginxFixture {
  /** nginx's port, on 127.0.0.1. */
  port: number
  /** `http://127.0.0.1:<port>`. */
  url: string
  /** nginx's master process. */
  pid: number
  /** The rendered nginx.conf. */
  confFile: string
  /** Where nginx spools request bodies (client_body_temp_path of nginx.conf). */
  bodyTempDir: string
  /** The requests the stand-in replica received, in order, as `METHOD url`. */
  seen: string[]
  stop(): Promise<void>
}

/** Options of {@link startNginxFixture}. */
export interface NginxFixtureOptions {
  /** Answers every request nginx passes on; `/health/live` must answer 200 (nginx's readiness). */
  upstream: RequestListener
  /** nginx's limits; rate limits are off unless turned on here. */
  nginx?: Partial<NginxLimits>
  /**
   * Make the data directory private (mode 700), as a checkout under /root is: started as root,
   * nginx's workers (`nobody`) then cannot enter it.
   */
  privateDataDir?: boolean
}

/**
 * Starts nginx exactly as the stack runner does (local.conf.template, the shared snippets and
 * templates, `nginx -t` first) in front of a stand-in replica whose behaviour the test controls,
 * without PostgreSQL, Redis or the API: cheap enough for tests of nginx alone.
 */
export async function startNginxFixture(options: NginxFixtureOptions): Promise<NginxFixture> {
  const dataDir = makeDataDir()
  if (options.privateDataDir) chmodSync(dataDir, 0o700)
  const ports = portOptions(await freeStackPorts(1))
  const seen: string[] = []
  const upstream: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`)
    options.upstream(req, res)
  })
  await new Promise<void>((resolve) => upstream.listen(ports.replicaPortBase, '127.0.0.1', resolve))
  const config = resolveStackConfig({
    dataDir,
    replicas: 1,
    ...ports,
    nginx: { rateLimit: false, ...options.nginx },
  })
  const unused = 'unused'
  let nginx: RunningComponent | undefined
  const confFile = join(stackPaths(config).nginxRunDir, 'nginx.conf')
  const stop = async () => {
    if (nginx) await stopComponent(nginx.state)
    upstream.closeAllConnections()
    await new Promise((resolve) => upstream.close(resolve))
    // With a private data directory as root, bodies are spooled outside it (see bodyTempDir).
    if (existsSync(confFile)) rmSync(bodyTempDirOf(confFile), { recursive: true, force: true })
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    nginx = await startNginx({
      config,
      binaries: locateBinaries({ postgres: false, redis: false }, quietReporter),
      reporter: quietReporter,
      credentials: {
        version: 1,
        postgres: { superuserPassword: unused, apiPassword: unused },
        redis: { adminPassword: unused, apiPassword: unused },
      },
      urls: {
        databaseUrl: unused,
        adminDatabaseUrl: unused,
        redisUrl: unused,
        adminRedisUrl: unused,
      },
    })
  } catch (error) {
    await stop()
    throw error
  }
  return {
    port: ports.nginxPort,
    url: `http://127.0.0.1:${ports.nginxPort}`,
    pid: nginx.state.pid,
    confFile,
    bodyTempDir: bodyTempDirOf(confFile),
    seen,
    stop,
  }
}

/**
 * Starts an nginx fixture before the tests of the enclosing `describe` and stops it after them.
 * @returns the running fixture, for use inside the tests.
 */
export function useNginxFixture(options: NginxFixtureOptions): () => NginxFixture {
  let fixture: NginxFixture | undefined
  beforeAll(async () => {
    fixture = await startNginxFixture(options)
  })
  afterAll(async () => {
    await fixture?.stop()
  })
  return () => {
    if (!fixture) throw new Error('the nginx fixture is started by beforeAll')
    return fixture
  }
}

/** client_body_temp_path of a rendered nginx.conf. */
function bodyTempDirOf(confFile: string): string {
  const path = /^\s*client_body_temp_path\s+"([^"]+)"/m.exec(readFileSync(confFile, 'utf8'))?.[1]
  if (!path) throw new Error(`${confFile} sets no client_body_temp_path`)
  return path
}

/** What nginx answered on a raw connection: status line, header block and body. */
export interface RawAnswer {
  /** NaN when the answer has no status line (HTTP/0.9). */
  status: number
  headers: string
  body: string
}

/**
 * Sends raw bytes to 127.0.0.1:`port` and resolves with nginx's answer once nginx closes the
 * connection (send `Connection: close`). The socket is not half-closed: nginx takes a client that
 * closes its side for one that went away, and drops a proxied request.
 */
export function rawRequest(port: number, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    let text = ''
    socket.setTimeout(10_000, () => socket.destroy(new Error('nginx did not close the connection')))
    socket.on('data', (chunk) => {
      text += chunk.toString()
    })
    socket.on('error', reject)
    socket.on('close', () => {
      if (!text.startsWith('HTTP/')) return resolve({ status: Number.NaN, headers: '', body: text })
      const split = text.indexOf('\r\n\r\n')
      const head = text.slice(0, split)
      resolve({ status: Number(head.split(' ')[1]), headers: head, body: text.slice(split + 4) })
    })
    socket.write(request)
  })
}
