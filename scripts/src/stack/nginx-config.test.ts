import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { NGINX_DEFAULTS, REPO_ROOT, stackPaths } from './config.js'
import {
  NGINX_TEMPLATES,
  nginxTemplateValues,
  renderNginxConfig,
  renderNginxTemplate,
} from './nginx-config.js'

const input = {
  listenPort: 8005,
  runDir: '/data/nginx',
  logDir: '/data/logs/nginx',
  confDir: '/repo/deploy/nginx',
  replicaPorts: [8101, 8102, 8103],
}

describe('renderNginxConfig', () => {
  it('fills every placeholder of the real template', () => {
    const template = readFileSync(
      stackPaths({ rootDir: REPO_ROOT, dataDir: '/x' }).nginxTemplate,
      'utf8',
    )
    const rendered = renderNginxConfig(template, { ...input, lb: 'round-robin' })
    expect(rendered).not.toMatch(/\{\{[A-Z_]+\}\}/)
    expect(rendered).toContain('listen 8005;')
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
    const locations = renderNginxTemplate(template('strata-limited-locations.conf'), values)
    expect(locations).toContain('limit_req zone=strata_writes burst=200 nodelay;')
    expect(locations).toContain('limit_req zone=strata_admin burst=5 nodelay;')
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
    for (const name of used) expect(composeDefaults[name], name).toBe(values[name])
    expect([...used].sort()).toEqual(Object.keys(values).sort())
  })
})
