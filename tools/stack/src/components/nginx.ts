import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { logFileOf, replicaPort, stackPaths } from '../config.js'
import { httpStatus } from '../http.js'
import { writeNginxConfig } from '../nginx-config.js'
import { launch, type RunningComponent, runToLog, type StartContext } from './launch.js'

/** Renders the nginx config for the replicas, checks it with `nginx -t`, starts nginx. */
export async function startNginx(ctx: StartContext): Promise<RunningComponent> {
  const { config } = ctx
  const paths = stackPaths(config)
  const name = 'nginx'
  const logFile = logFileOf(config, name)
  // access.log and error.log; nginx.log itself holds what nginx prints before it opens them.
  const logDir = join(paths.logsDir, 'nginx')
  mkdirSync(paths.nginxRunDir, { recursive: true })
  mkdirSync(logDir, { recursive: true })
  const replicaPorts = Array.from({ length: config.replicas }, (_, i) => replicaPort(config, i + 1))
  const confFile = writeNginxConfig({
    template: paths.nginxTemplate,
    templatesDir: paths.nginxTemplatesDir,
    limits: config.nginx,
    listenPort: config.nginxPort,
    runDir: paths.nginxRunDir,
    logDir,
    confDir: paths.nginxConfDir,
    replicaPorts,
    lb: config.lb,
  })
  // `-e`: nginx opens its compiled-in error log (/var/log/nginx) before reading the config,
  // which fails without root; point it at ours from the first line.
  const errorLog = join(logDir, 'error.log')
  const args = ['-p', paths.nginxRunDir, '-c', confFile, '-e', errorLog]
  runToLog(ctx.binaries.nginx, ['-t', '-q', ...args], logFile, undefined, name)

  const port = config.nginxPort
  const url = `http://127.0.0.1:${port}`
  return launch(ctx, {
    name,
    kind: 'nginx',
    port,
    url,
    logFile,
    extraLogFiles: [errorLog],
    logMode: 'append',
    command: ctx.binaries.nginx,
    args,
    cwd: paths.nginxRunDir,
    env: { PATH: '/usr/bin:/bin' },
    ready: async () => (await httpStatus(`${url}/health/live`)) === 200,
  })
}
