import { createHash } from 'node:crypto'

/** A Redis ACL user: its name, its password and the rules that follow `on` (keys, channels, commands). */
export interface RedisAclUser {
  name: string
  password: string
  /** ACL rules, e.g. `resetkeys ~app:* resetchannels &app:* -@all +get +set`. */
  rules: string
}

/**
 * The `user` directive of a redis.conf for one user. The password is written as its SHA-256
 * (`#<hex>`), which Redis accepts in place of the clear text, so a config file never holds it.
 * @example redisUserDirective({ name: 'default', password, rules: '~* &* +@all' })
 */
export function redisUserDirective(user: RedisAclUser): string {
  if (!/^[\w.:-]+$/.test(user.name))
    throw new Error(`invalid Redis user name ${JSON.stringify(user.name)}`)
  const hash = createHash('sha256').update(user.password, 'utf8').digest('hex')
  return `user ${user.name} reset on #${hash} ${user.rules}`
}

/** A `redis://user:password@host:port` URL, with both parts percent-encoded. */
export function redisUrlFor(
  port: number,
  user: string,
  password: string,
  host = '127.0.0.1',
): string {
  return `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}`
}
