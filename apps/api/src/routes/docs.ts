import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { OpenAPIHono } from '@hono/zod-openapi'
import { getAbsoluteFSPath } from 'swagger-ui-dist'
import type { AppEnv } from '../app-env.js'

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Strata API reference</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`

const INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`

/**
 * `/openapi.json` (generated from the route schemas) and `/docs`, an interactive reference
 * served from the installed swagger-ui-dist package: nothing is fetched from a CDN.
 */
export function registerDocsRoutes(app: OpenAPIHono<AppEnv>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: 'The ADMIN_TOKEN configured on the replicas',
  })
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'Strata',
      version: '0.1.0',
      description: 'A coherent multi-tier cache (L1 in-process, L2 Redis) over PostgreSQL.',
    },
  })

  const dir = getAbsoluteFSPath()
  const assets = {
    'swagger-ui.css': {
      body: readFileSync(join(dir, 'swagger-ui.css')),
      type: 'text/css; charset=utf-8',
    },
    'swagger-ui-bundle.js': {
      body: readFileSync(join(dir, 'swagger-ui-bundle.js')),
      type: 'text/javascript; charset=utf-8',
    },
    'init.js': { body: Buffer.from(INIT), type: 'text/javascript; charset=utf-8' },
  } as const
  app.get('/docs', (c) => c.html(PAGE))
  app.get('/docs/:asset', (c) => {
    const asset = assets[c.req.param('asset') as keyof typeof assets]
    if (!asset) return c.notFound()
    return c.body(new Uint8Array(asset.body), 200, {
      'Content-Type': asset.type,
      'Cache-Control': 'public, max-age=3600',
    })
  })
}
