import type { Compose } from './compose.js'
import { check, step } from './report.js'

/** Secrets compose must refuse to start without. */
export const SECRETS = [
  'POSTGRES_PASSWORD',
  'POSTGRES_API_PASSWORD',
  'REDIS_PASSWORD',
  'REDIS_ADMIN_PASSWORD',
] as const
export type Secrets = Record<(typeof SECRETS)[number], string>

/**
 * The shipped files, before anything runs: compose parses them, refuses to start without each
 * secret, loads deploy/.env.example, and users' nginx image is recent enough for docker.conf.
 */
export async function checkFiles(compose: Compose): Promise<void> {
  step('Compose file: parsed by compose, secrets required')
  await compose.must(['--profile', 'loadtest', 'config', '--quiet'])
  check(true, 'docker compose config accepts the shipped file with the stand-in override')
  for (const name of SECRETS) {
    const without = await compose.run(['config', '--quiet'], { env: { [name]: '' } })
    check(
      without.code !== 0 && without.stderr.includes(name),
      `without ${name} compose refuses the file and names the variable`,
    )
  }
  const withExample = await compose.run(['--env-file', 'deploy/.env.example', 'config', '--quiet'])
  check(
    withExample.code === 0,
    'the file loads with deploy/.env.example (secrets from the environment)',
  )
  // The stand-in override replaces nginx's image in this run, so the image users pull is read
  // from the shipped file alone: it must have the `resolve` parameter docker.conf relies on.
  const shipped = await compose.must(['config', '--format', 'json'], {
    files: ['deploy/docker-compose.yml'],
  })
  const services = (JSON.parse(shipped.stdout) as { services: Record<string, { image?: string }> })
    .services
  const nginxImage = services.nginx?.image ?? ''
  const tag = /^nginx:(\d+)\.(\d+)(?:\.(\d+))?/.exec(nginxImage)
  const version = tag ? [Number(tag[1]), Number(tag[2]), Number(tag[3] ?? 0)] : [0, 0, 0]
  const atLeast = (v: number[], min: number[]) =>
    v[0] !== min[0]
      ? (v[0] ?? 0) > (min[0] ?? 0)
      : v[1] !== min[1]
        ? (v[1] ?? 0) > (min[1] ?? 0)
        : (v[2] ?? 0) >= (min[2] ?? 0)
  check(
    atLeast(version, [1, 27, 3]),
    `users' nginx image ${nginxImage} is pinned to >= 1.27.3 (upstream \`resolve\`)`,
  )
}
