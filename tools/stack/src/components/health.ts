import { withNode } from '@strata/test-servers'
import type { StackCredentials } from '../credentials.js'
import { httpStatus } from '../http.js'
import { acceptsConnections, postgresAnswers, redisAnswersPing } from '../probes.js'
import type { ComponentState } from '../state.js'

/**
 * Whether a running component answers like a healthy one, for `status`. Without the stack's
 * credentials (the file was removed), accepting connections is the best evidence left.
 */
export async function isHealthy(
  component: ComponentState,
  psqlBinary: string | undefined,
  credentials: StackCredentials | undefined,
): Promise<boolean> {
  switch (component.kind) {
    case 'postgres':
      // Without psql (removed since start-up), the same fallback.
      return psqlBinary && credentials
        ? postgresAnswers(psqlBinary, component.port, credentials.postgres.superuserPassword)
        : acceptsConnections(component.port)
    case 'redis': {
      if (!credentials) return acceptsConnections(component.port)
      const auth = { user: 'default', password: credentials.redis.adminPassword }
      if (!(await redisAnswersPing(component.port, auth))) return false
      // A cluster node is healthy when it also sees the cluster whole.
      return component.name === 'redis' || clusterStateOk(component.port, auth)
    }
    case 'replica':
      return (await httpStatus(`${component.url}/health/ready`)) === 200
    case 'nginx':
      return (await httpStatus(`${component.url}/health/live`)) === 200
  }
}

/** True when the cluster node on `port` says `cluster_state:ok`. */
const clusterStateOk = (port: number, auth: { user: string; password: string }) =>
  withNode(port, auth, async (node) =>
    String(await node.call('CLUSTER', 'INFO')).includes('cluster_state:ok'),
  ).catch(() => false)
