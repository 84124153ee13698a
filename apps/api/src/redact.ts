/** Commands whose arguments carry credentials; ioredis copies them onto the errors it raises. */
const CREDENTIAL_COMMANDS = new Set(['auth', 'hello', 'acl', 'config', 'migrate'])

/**
 * A connection URL fit for logs and messages: the password (and a `password` query parameter)
 * replaced by `***`, the user name kept so that a refused login can still be understood.
 * @example redactUrl('redis://strata-api:s3cret@redis:6379') // 'redis://strata-api:***@redis:6379'
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***')
    return parsed.toString()
  } catch {
    return '(unparseable URL)'
  }
}

/**
 * Removes credentials from a serialized error before it is logged. ioredis attaches the failed
 * command to its errors (`command: { name, args }`), and for a refused `AUTH` the arguments are
 * the user name and the password; for other commands they are user keys and values, which do
 * not belong in logs either. Causes are cleaned too.
 */
export function redactSerializedError<T>(serialized: T, depth = 0): T {
  if (serialized === null || typeof serialized !== 'object' || depth > 5) return serialized
  const record = serialized as Record<string, unknown>
  const command = record.command as { name?: unknown; args?: unknown } | undefined
  if (command && typeof command === 'object' && Array.isArray(command.args)) {
    const name = String(command.name ?? '').toLowerCase()
    record.command = {
      name: command.name,
      args: CREDENTIAL_COMMANDS.has(name)
        ? '[redacted]'
        : `[${command.args.length} argument(s) not logged]`,
    }
  }
  if (record.cause) record.cause = redactSerializedError(record.cause, depth + 1)
  return serialized
}
