import { type Compose, docker } from './compose.js'
import { check, step } from './report.js'

/** `psql` in the postgres container as the superuser, over the Unix socket; one row per line. */
async function superuserQuery(compose: Compose, sql: string): Promise<string> {
  const psql = ['exec', '-T', 'postgres', 'psql', '-U', 'postgres', '-d', 'strata', '-At']
  return (await compose.must([...psql, '-F', ' ', '-c', sql])).stdout.trim()
}

/**
 * The replicas log in as `strata`, a role that owns the `strata` database and its tables and is
 * no superuser (deploy/postgres/initdb.d/), and never see the superuser's password. Run after
 * traffic, while the replicas' pooled sessions are still open.
 */
export async function checkPostgresRole(
  compose: Compose,
  secrets: { superuser: string; api: string },
  apiContainers: readonly string[],
): Promise<void> {
  step("PostgreSQL: the API's role is not a superuser")
  const role = await superuserQuery(
    compose,
    "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = 'strata'",
  )
  check(
    role === 'f f f f',
    `role strata: no superuser, CREATEROLE, CREATEDB or BYPASSRLS (${role})`,
  )
  const owners = await superuserQuery(
    compose,
    "SELECT pg_get_userbyid(datdba), (SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public') FROM pg_database WHERE datname = 'strata'",
  )
  check(
    owners === 'strata strata',
    `strata owns the database and the tables the API made (${owners})`,
  )
  // Every TCP session is a replica's (psql above uses the socket): who they log in as.
  const sessions = await superuserQuery(
    compose,
    "SELECT count(*), string_agg(DISTINCT a.usename::text, ','), bool_or(r.rolsuper) FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid WHERE a.client_addr IS NOT NULL",
  )
  const [count, users, anySuper] = sessions.split(' ')
  check(
    Number(count) > 0 && users === 'strata' && anySuper === 'f',
    `the replicas' ${count} sessions are all strata's, none a superuser's`,
  )
  // The API's password over TCP (SCRAM), as a replica logs in; what a superuser could, it cannot.
  const url = `postgresql://strata:${secrets.api}@127.0.0.1:5432/strata`
  const create = await compose.run([
    ...['exec', '-T', 'postgres', 'psql', url, '-c', 'CREATE ROLE strata_probe'],
  ])
  check(
    create.code !== 0 && /permission denied/i.test(create.stderr),
    'logged in with POSTGRES_API_PASSWORD, strata is refused CREATE ROLE',
  )
  const env = await docker([
    'inspect',
    '--format',
    '{{range .Config.Env}}{{println .}}{{end}}',
    ...apiContainers,
  ])
  check(
    env.code === 0 && !env.stdout.includes(secrets.superuser),
    "no api container's environment holds the superuser's password",
  )
}
