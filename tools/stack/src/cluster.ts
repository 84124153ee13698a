import type { ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync } from 'node:fs'
import { type Binaries, locateBinaries } from './binaries.js'
import {
  byStartOrder,
  exitReason,
  type RunningComponent,
  type StartContext,
  stopComponents,
} from './components/launch.js'
import { startNginx } from './components/nginx.js'
import { startPostgres } from './components/postgres.js'
import { startRedis } from './components/redis.js'
import {
  clusterSeeds,
  redisComponentName,
  startRedisCluster,
  startRedisNode,
} from './components/redis-cluster.js'
import { type ReplicaBackends, startReplica } from './components/replica.js'
import { DATABASE_NAME, replicaName, replicaPort, type StackConfig, stackPaths } from './config.js'
import { connectionUrls, loadOrCreateCredentials, type StackConnectionUrls } from './credentials.js'
import { isRunning, killDaemon, signalTree } from './daemons.js'
import { StackError } from './errors.js'
import { assertPortsFree, newStackState, refuseIfRunning } from './preflight.js'
import { quietReporter, type Reporter } from './reporter.js'
import { type ComponentState, removeState, type StackState, writeState } from './state.js'

/** How a cluster is run. */
export interface ClusterOptions {
  /** Progress output. @default quietReporter */
  reporter?: Reporter
  /** True for `pnpm start`, whose process owns the stack until Ctrl-C. @default false */
  foreground?: boolean
  /** Interrupts the start-up; everything started so far is stopped. */
  signal?: AbortSignal
  /**
   * Where replica `index` (1-based) finds PostgreSQL and Redis, given the stack's own URLs; for
   * putting a fault-injecting proxy between a replica and a backend. Called before every start
   * of the replica, restarts included.
   * @default the stack's URLs, unchanged
   */
  replicaBackends?: (
    backends: Readonly<ReplicaBackends>,
    index: number,
  ) => ReplicaBackends | Promise<ReplicaBackends>
}

/**
 * A running local stack: PostgreSQL, Redis, N replicas and nginx, started by this process.
 * Tests use it directly to kill and restart replicas; the CLI wraps it.
 *
 * @example
 * const cluster = await startCluster(resolveStackConfig({ dataDir, nginxPort }))
 * await cluster.killReplica(2)
 * await cluster.startReplica(2)
 * await cluster.stop()
 */
export class Cluster {
  readonly config: StackConfig
  readonly #reporter: Reporter
  readonly #context: StartContext
  readonly #backends: StackBackends
  readonly #state: StackState
  readonly #running = new Map<string, RunningComponent>()
  /** Children whose exit we caused, so only the others are reported as crashes. */
  readonly #expectedExits = new WeakSet<ChildProcess>()
  readonly #replicaBackends: NonNullable<ClusterOptions['replicaBackends']>
  /** Components frozen with SIGSTOP, to thaw before stopping them. */
  readonly #paused = new Set<string>()
  #stopped = false

  private constructor(
    context: StartContext,
    backends: StackBackends,
    state: StackState,
    options: ClusterOptions,
  ) {
    this.config = context.config
    this.#reporter = context.reporter
    this.#context = context
    this.#backends = backends
    this.#state = state
    this.#replicaBackends = options.replicaBackends ?? ((own) => ({ ...own }))
  }

  /** Starts every component in order and returns once all are healthy. Rolls back on failure. */
  static async start(config: StackConfig, options: ClusterOptions = {}): Promise<Cluster> {
    const reporter = options.reporter ?? quietReporter
    const paths = stackPaths(config)
    refuseIfRunning(paths.stateFile)
    await assertPortsFree(config)
    const binaries: Binaries = locateBinaries(
      { postgres: !config.databaseUrl, redis: !config.redisUrl },
      reporter,
    )

    for (const dir of [paths.dataDir, paths.logsDir]) {
      const created = !existsSync(dir)
      mkdirSync(dir, { recursive: true })
      // The postgres user and nginx's `nobody` workers must be able to enter our directories,
      // whatever the umask was when they were created.
      if (created) chmodSync(dir, 0o755)
    }

    const state = newStackState(config, options.foreground ?? false)
    // Passwords of the PostgreSQL and Redis the stack runs: random on the first start, then kept.
    const { credentials, created } = loadOrCreateCredentials(paths.credentialsFile, (message) =>
      reporter.warn(message),
    )
    if (created)
      reporter.step(
        `Generated passwords for PostgreSQL and Redis in ${paths.credentialsFile} (mode 600)`,
      )
    const urls = connectionUrls(
      credentials,
      { postgres: config.postgresPort, redis: config.redisPort },
      DATABASE_NAME,
    )
    const context: StartContext = {
      config,
      binaries,
      reporter,
      credentials,
      urls,
      signal: options.signal,
    }
    context.onSpawned = (component) => cluster.#record(component)
    // An external server's URL is used as given, for the replicas and for admin work alike.
    const backends: StackBackends = {
      databaseUrl: config.databaseUrl ?? urls.databaseUrl,
      redisUrl: config.redisUrl ?? urls.redisUrl,
      adminDatabaseUrl: config.databaseUrl ?? urls.adminDatabaseUrl,
      adminRedisUrl: config.redisUrl ?? urls.adminRedisUrl,
      ...(config.redisTopology === 'cluster' ? { redisClusterNodes: clusterSeeds(context) } : {}),
    }
    const cluster = new Cluster(context, backends, state, options)
    try {
      await cluster.#startAll()
    } catch (error) {
      const aborted = error instanceof StackError && error.code === 'E_ABORTED'
      reporter.step(
        aborted ? 'Stopping what was started' : 'Start-up failed; stopping what was started',
      )
      await cluster.stop()
      throw error
    }
    return cluster
  }

  async #startAll(): Promise<void> {
    if (!this.config.databaseUrl) this.#track(await startPostgres(this.#context))
    this.#checkAborted()
    if (!this.config.redisUrl) {
      const cluster = this.config.redisTopology === 'cluster'
      const nodes = cluster
        ? await startRedisCluster(this.#context)
        : [await startRedis(this.#context)]
      for (const node of nodes) this.#track(node)
    }
    this.#checkAborted()
    // Replicas start together: each runs migrations and connects on its own.
    const indexes = Array.from({ length: this.config.replicas }, (_, i) => i + 1)
    const results = await Promise.allSettled(
      indexes.map(async (index) =>
        this.#track(
          await startReplica(
            this.#context,
            index,
            await this.#replicaBackends(this.#backends, index),
          ),
        ),
      ),
    )
    const failure = results.find((result) => result.status === 'rejected')
    if (failure) throw failure.reason
    this.#checkAborted()
    this.#track(await startNginx(this.#context))
  }

  #checkAborted(): void {
    if (this.#context.signal?.aborted) throw new StackError('E_ABORTED', 'start-up interrupted')
  }

  /** Puts a just-spawned component in the state file, replacing an earlier process of the same name. */
  #record(component: ComponentState): void {
    this.#state.components = [
      ...this.#state.components.filter((c) => c.name !== component.name),
      component,
    ].sort(byStartOrder)
    writeState(stackPaths(this.config).stateFile, this.#state)
  }

  /** Keeps a healthy component's process handle, and reports it if it exits on its own. */
  #track(component: RunningComponent): void {
    const { state, child } = component
    this.#running.set(state.name, component)
    child.once('exit', () => {
      if (this.#stopped || this.#expectedExits.has(child)) return
      const reason = exitReason(child) ?? 'exited'
      this.#reporter.warn(`${state.name} ${reason} unexpectedly; read ${state.logFile}`)
    })
  }

  /** nginx's URL: the cluster's front door. */
  get url(): string {
    return `http://127.0.0.1:${this.config.nginxPort}`
  }

  /** Replica `index`'s own URL (1-based), bypassing nginx. */
  replicaUrl(index: number): string {
    return `http://127.0.0.1:${replicaPort(this.config, index)}`
  }

  /**
   * Every connection URL of the stack, credentials included: what the replicas use, and the
   * administrative ones (PostgreSQL superuser, Redis `default` user) for tools and tests that
   * inspect or disturb the servers. Never print them; `redactUrl()` makes one printable.
   */
  get backends(): Readonly<StackBackends> {
    return this.#backends
  }

  /** What the stack runs now, as written to the state file. */
  get components(): readonly ComponentState[] {
    return this.#state.components
  }

  /** One component's recorded state by name (`replica-2`, `nginx`, …). */
  component(name: string): ComponentState | undefined {
    return this.#state.components.find((component) => component.name === name)
  }

  /** SIGKILLs replica `index`, as a crash would; resolves once the process is gone. */
  async killReplica(index: number): Promise<void> {
    await this.#kill(this.#replica(index))
  }

  /** Stops replica `index` gracefully (SIGTERM: it drains first). */
  async stopReplica(index: number): Promise<void> {
    const running = this.#replica(index)
    this.#expectedExits.add(running.child)
    await stopComponents([running.state], this.#reporter)
  }

  /** Starts replica `index` again on its port after a kill or stop; resolves once it is ready. */
  async startReplica(index: number): Promise<void> {
    this.#assertStopped(this.#replica(index))
    const backends = await this.#replicaBackends(this.#backends, index)
    this.#track(await startReplica(this.#context, index, backends, 'append'))
  }

  #replica(index: number): RunningComponent {
    const running = this.#running.get(replicaName(index))
    if (!running)
      throw new StackError(
        'E_BAD_ARGUMENT',
        `there is no replica ${index} (replicas: ${this.config.replicas})`,
      )
    return running
  }

  /**
   * SIGKILLs Redis, as a crash would (its data is gone: it keeps none on disk); in a cluster,
   * node `node` (1-based: `redis-<node>`), whose replica then takes over if it was a master.
   */
  async killRedis(node?: number): Promise<void> {
    await this.#kill(this.#redis(node))
  }

  /**
   * Starts Redis (or cluster node `node`) again on its port, empty, after a kill; resolves once
   * it holds the scripts. A node rejoins the cluster as itself.
   */
  async startRedis(node?: number): Promise<void> {
    this.#assertStopped(this.#redis(node))
    this.#track(
      node === undefined
        ? await startRedis(this.#context, 'append')
        : await startRedisNode(this.#context, node, 'append'),
    )
  }

  /** Freezes Redis (or cluster node `node`) with SIGSTOP: sockets stay open, nothing answers. */
  pauseRedis(node?: number): void {
    this.#pause(this.#redis(node))
  }

  /** Thaws Redis (or cluster node `node`) after `pauseRedis()` (SIGCONT). */
  resumeRedis(node?: number): void {
    this.#resume(this.#redis(node))
  }

  #redis(node: number | undefined): RunningComponent {
    return this.#backend(redisComponentName(this.config, node))
  }

  /**
   * Freezes PostgreSQL with SIGSTOP, the postmaster and every backend (its process tree):
   * connections stay open and no query is answered, as in a hang.
   */
  pausePostgres(): void {
    this.#pause(this.#backend('postgres'))
  }

  /** Thaws PostgreSQL after `pausePostgres()` (SIGCONT). */
  resumePostgres(): void {
    this.#resume(this.#backend('postgres'))
  }

  /** Freezes replica `index` with SIGSTOP, as a long GC pause or a descheduled VM would. */
  pauseReplica(index: number): void {
    this.#pause(this.#replica(index))
  }

  /** Thaws replica `index` after `pauseReplica()` (SIGCONT). */
  resumeReplica(index: number): void {
    this.#resume(this.#replica(index))
  }

  /** Stops PostgreSQL (fast shutdown: open transactions are rolled back, clients disconnected). */
  async stopPostgres(): Promise<void> {
    const running = this.#backend('postgres')
    this.#expectedExits.add(running.child)
    await stopComponents([running.state], this.#reporter)
  }

  /** Starts PostgreSQL again on its port, with its data, after a stop or kill; resolves once it answers. */
  async startPostgres(): Promise<void> {
    this.#assertStopped(this.#backend('postgres'))
    this.#track(await startPostgres(this.#context, 'append'))
  }

  /** The Redis or PostgreSQL this cluster started; refuses one given by URL, which it does not own. */
  #backend(name: string): RunningComponent {
    const running = this.#running.get(name)
    if (!running) {
      const variable = name === 'postgres' ? 'DATABASE_URL' : 'REDIS_URL'
      throw new StackError(
        'E_BAD_ARGUMENT',
        `this stack did not start ${name} (${variable} was given), so it cannot stop or start it`,
      )
    }
    return running
  }

  async #kill(running: RunningComponent): Promise<void> {
    this.#expectedExits.add(running.child)
    this.#paused.delete(running.state.name)
    await killDaemon(running.state)
  }

  #pause(running: RunningComponent): void {
    this.#signal(running, 'SIGSTOP')
    this.#paused.add(running.state.name)
  }

  #resume(running: RunningComponent): void {
    this.#paused.delete(running.state.name)
    this.#signal(running, 'SIGCONT')
  }

  /** Signals the component and its descendants: PostgreSQL's backends too. */
  #signal(running: RunningComponent, signal: NodeJS.Signals): void {
    if (!isRunning(running.state))
      throw new StackError('E_NOT_RUNNING', `${running.state.name} is not running`)
    signalTree(running.state.pid, signal)
  }

  #assertStopped(running: RunningComponent): void {
    if (isRunning(running.state)) {
      throw new StackError(
        'E_ALREADY_RUNNING',
        `${running.state.name} is running (pid ${running.state.pid}); stop it first`,
      )
    }
  }

  /** Stops everything in order (nginx, replicas, Redis, PostgreSQL) and removes the state file. */
  async stop(): Promise<void> {
    this.#stopped = true
    // A frozen process cannot act on its stop signal; thaw it first.
    for (const name of this.#paused) {
      const running = this.#running.get(name)
      if (running && isRunning(running.state)) signalTree(running.state.pid, 'SIGCONT')
    }
    this.#paused.clear()
    await stopComponents(this.#state.components, this.#reporter)
    removeState(stackPaths(this.config).stateFile)
  }
}

/** Where the replicas find their database and Redis, and the administrative URLs of both. */
export interface StackBackends extends ReplicaBackends, StackConnectionUrls {}

/** Starts a cluster; see `Cluster`. */
export const startCluster = (config: StackConfig, options?: ClusterOptions): Promise<Cluster> =>
  Cluster.start(config, options)
