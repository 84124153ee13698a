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
    case 'redis':
      return credentials
        ? redisAnswersPing(component.port, {
            user: 'default',
            password: credentials.redis.adminPassword,
          })
        : acceptsConnections(component.port)
    case 'replica':
      return (await httpStatus(`${component.url}/health/ready`)) === 200
    case 'nginx':
      return (await httpStatus(`${component.url}/health/live`)) === 200
  }
}
