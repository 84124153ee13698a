import { dirname } from 'node:path'
import { redactUrl } from '@strata/api/redact'
import { redisBoundPorts, replicaName, replicaPort, type StackConfig } from './config.js'
import { isRunning } from './daemons.js'
import { StackError } from './errors.js'
import { isPortFree } from './ports.js'
import { processStartTime } from './processes.js'
import { readState, removeState, type StackState } from './state.js'

// Before a stack starts: no stack of this data directory runs, its ports are free; its first state.

/** Refuses to start a second stack on the same data directory; clears a dead one's state. */
export function refuseIfRunning(stateFile: string): void {
  const state = readState(stateFile)
  if (!state) return
  const alive = state.components.filter((component) => isRunning(component))
  if (alive.length > 0) {
    throw new StackError(
      'E_ALREADY_RUNNING',
      `a stack is already running from ${dirname(stateFile)} (${alive.map((c) => `${c.name} pid ${c.pid}`).join(', ')}).\n` +
        'See it with `pnpm stack status`, stop it with `pnpm stack down` (add --data-dir when not the default).',
    )
  }
  // Every process of the recorded stack is gone (a crash, a reboot): the record is stale.
  removeState(stateFile)
}

/** Fails early, naming the option to change, when a port the stack would bind is taken. */
export async function assertPortsFree(config: StackConfig): Promise<void> {
  const wanted: Array<{ port: number; what: string; option: string }> = [
    { port: config.nginxPort, what: 'nginx', option: '--nginx-port' },
  ]
  if (!config.databaseUrl)
    wanted.push({ port: config.postgresPort, what: 'postgres', option: '--postgres-port' })
  if (!config.redisUrl)
    for (const port of redisBoundPorts(config))
      wanted.push({ port, what: 'redis', option: '--redis-port' })
  for (let index = 1; index <= config.replicas; index++) {
    wanted.push({
      port: replicaPort(config, index),
      what: replicaName(index),
      option: '--replica-port-base',
    })
  }
  const taken: string[] = []
  for (const { port, what, option } of wanted) {
    if (!(await isPortFree(port))) taken.push(`${port} (${what}; change it with ${option})`)
  }
  if (taken.length > 0) {
    throw new StackError(
      'E_PORT_IN_USE',
      `already in use: port ${taken.join(', port ')}.\n` +
        'Another stack or program listens there: stop it (`pnpm stack status` shows a stack of this checkout) or choose other ports.',
    )
  }
}

/** The state file of a stack about to start: who owns it, with what options, nothing running yet. */
export function newStackState(config: StackConfig, foreground: boolean): StackState {
  return {
    version: 1,
    ownerPid: process.pid,
    ownerStartTime: processStartTime(process.pid),
    foreground,
    startedAt: new Date().toISOString(),
    options: {
      replicas: config.replicas,
      mode: config.mode,
      lb: config.lb,
      nginxPort: config.nginxPort,
      replicaPortBase: config.replicaPortBase,
      rateLimit: config.nginx.rateLimit,
      redis: config.redisTopology,
    },
    external: {
      ...(config.databaseUrl ? { database: redactUrl(config.databaseUrl) } : {}),
      ...(config.redisUrl ? { redis: redactUrl(config.redisUrl) } : {}),
    },
    components: [],
  }
}
