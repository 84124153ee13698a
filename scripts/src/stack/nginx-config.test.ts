import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT, stackPaths } from './config.js'
import { renderNginxConfig } from './nginx-config.js'

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
