import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { NGINX_DEFAULTS, REPO_ROOT, stackPaths } from './config.js'
import {
  bodyTempDir,
  NGINX_TEMPLATES,
  nginxTemplateValues,
  renderNginxConfig,
  renderNginxTemplate,
  searchableByOthers,
} from './nginx-config.js'

const input = {
  listenPort: 8005,
  runDir: '/data/nginx',
  logDir: '/data/logs/nginx',
  confDir: '/repo/deploy/nginx',
  replicaPorts: [8101, 8102, 8103],
  bodyTempDir: '/data/nginx/client_body_temp',
}

describe('renderNginxConfig', () => {
  it('fills every placeholder of the real template', () => {
    const template = readFileSync(
      stackPaths({ rootDir: REPO_ROOT, dataDir: '/x' }).nginxTemplate,
      'utf8',
    )
    const rendered = renderNginxConfig(template, { ...input, lb: 'round-robin' })
    expect(rendered).not.toMatch(/\{\{[A-Z_]+\}\}/)
    // Loopback only, twice: the default server that refuses unknown Hosts, and the real one.
    expect(rendered.match(/^\s*listen\s+(.*);$/gm)).toEqual([
      '        listen 127.0.0.1:8005 default_server sndbuf=64k;',
      '        listen 127.0.0.1:8005;',
    ])
    expect(rendered).toContain('client_body_temp_path "/data/nginx/client_body_temp";')
    for (const port of input.replicaPorts) {
      expect(rendered).toContain(`server 127.0.0.1:${port} max_fails=1 fail_timeout=2s;`)
    }
  })

  it('routes reads to the upstream of the chosen policy', () => {
    const template = 'location /read/ { proxy_pass http://{{READ_UPSTREAM}}; }'
    expect(renderNginxConfig(template, { ...input, lb: 'round-robin' })).toContain(
      'http://strata_rr;',
    )
    expect(renderNginxConfig(template, { ...input, lb: 'key-affinity' })).toContain(
      'http://strata_affinity;',
    )
  })

  it('refuses a placeholder it does not know, rather than leaving it for nginx to choke on', () => {
    expect(() =>
      renderNginxConfig('listen {{LISTEN_PORT}}; {{NEW_THING}}', { ...input, lb: 'round-robin' }),
    ).toThrow(/\{\{NEW_THING\}\}/)
  })
})

describe('bodyTempDir', () => {
  const made: string[] = []
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  const privateDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-body-test-'))
    made.push(dir)
    chmodSync(dir, 0o700)
    const runDir = join(dir, 'nginx')
    mkdirSync(runDir)
    return runDir
  }

  it('keeps bodies in the run directory when nginx does not start as root', () => {
    const runDir = privateDir()
    expect(bodyTempDir(runDir, false)).toBe(join(runDir, 'client_body_temp'))
  })

  it('keeps them there as root when the workers can reach it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-body-test-'))
    made.push(dir)
    chmodSync(dir, 0o755)
    if (!searchableByOthers(tmpdir())) return // a private TMPDIR: nothing to check here
    expect(bodyTempDir(dir, true)).toBe(join(dir, 'client_body_temp'))
  })

  it('as root under a private directory, uses a fresh private directory, and removes the last one', () => {
    if (!searchableByOthers(tmpdir())) return
    const runDir = privateDir()
    expect(searchableByOthers(runDir)).toBe(false)
    const first = bodyTempDir(runDir, true)
    made.push(first)
    expect(dirname(first)).toBe(tmpdir())
    expect(statSync(first).mode & 0o777).toBe(0o700)
    const second = bodyTempDir(runDir, true)
    made.push(second)
    expect(second).not.toBe(first)
    expect(existsSync(first)).toBe(false)
  })
})

describe('the shared STRATA_* templates', () => {
  const templatesDir = stackPaths({ rootDir: REPO_ROOT, dataDir: '/x' }).nginxTemplatesDir
  const template = (name: string) => readFileSync(join(templatesDir, `${name}.template`), 'utf8')

  it('render with every variable set, as nginx then reads them', () => {
    const values = nginxTemplateValues(NGINX_DEFAULTS)
    const limits = renderNginxTemplate(template('strata-limits.conf'), values)
    expect(limits).not.toMatch(/\$\{STRATA_[A-Z0-9_]+\}/)
    expect(limits).toContain('map "on" $strata_limit_key')
    expect(limits).toContain('zone=strata_writes:10m rate=100r/s;')
    expect(limits).toContain('zone=strata_admin:1m rate=10r/m;')
    expect(limits).toContain('~^/clear-cache  6;')
    expect(limits).toContain('client_header_timeout 10s;')
    expect(limits).toContain('zone=strata_ops:10m rate=10r/s;')
    expect(limits).toContain('limit_conn_zone $strata_limit_key zone=strata_conns:10m;')
    // The local stack serves the operational routes (loopback only).
    expect(limits).toContain('map "on" $strata_ops_hidden')
    const locations = renderNginxTemplate(template('strata-limited-locations.conf'), values)
    expect(locations).toContain('limit_req zone=strata_writes burst=200 nodelay;')
    expect(locations).toContain('limit_req zone=strata_admin burst=5 nodelay;')
    expect(locations).toContain('limit_conn strata_conns 128;')
    expect(locations.match(/limit_req zone=strata_ops burst=20 nodelay;/g)).toHaveLength(5)
    // Every operational route but /health is hidden when STRATA_EXPOSE_OPS is not `on`.
    expect(locations.match(/if \(\$strata_ops_hidden\) \{ return 404; \}/g)).toHaveLength(7)
    // The only routes that take a body keep the 1088k of a 1 MiB value plus its envelope.
    expect(locations.match(/client_max_body_size 1088k;/g)).toHaveLength(3)
  })

  it('turn the limits off by emptying the key nginx counts by', () => {
    const values = nginxTemplateValues({ ...NGINX_DEFAULTS, rateLimit: false, adminRate: 7 })
    const limits = renderNginxTemplate(template('strata-limits.conf'), values)
    expect(limits).toContain('map "off" $strata_limit_key')
    expect(limits).toMatch(/off\s+"";/)
    // 60 / 7 s, rounded up.
    expect(values.STRATA_ADMIN_RETRY_AFTER).toBe('9')
  })

  it('refuses a variable it has no value for', () => {
    // A dollar-brace variable as the templates write it (not a JavaScript placeholder).
    const template = ['rate=$', '{STRATA_NEW_THING}r/s;'].join('')
    expect(() => renderNginxTemplate(template, {})).toThrow(/STRATA_NEW_THING/)
  })

  it('default to what the compose file passes the nginx image', () => {
    const compose = readFileSync(join(REPO_ROOT, 'deploy/docker-compose.yml'), 'utf8')
    const composeDefaults = Object.fromEntries(
      [...compose.matchAll(/^\s+(STRATA_[A-Z0-9_]+): \$\{\1:-([^}]*)\}\s*$/gm)].map((m) => [
        m[1],
        m[2],
      ]),
    )
    const used = new Set(
      NGINX_TEMPLATES.flatMap((name) =>
        [...template(name).matchAll(/\$\{(STRATA_[A-Z0-9_]+)\}/g)].map((m) => m[1] as string),
      ),
    )
    const values = nginxTemplateValues(NGINX_DEFAULTS)
    // The one deliberate difference: compose hides the operational routes by default.
    const composeOnly: Record<string, string> = { STRATA_EXPOSE_OPS: 'off' }
    for (const name of used)
      expect(composeDefaults[name], name).toBe(composeOnly[name] ?? values[name])
    expect([...used].sort()).toEqual(Object.keys(values).sort())
  })
})
