import { spawn } from 'node:child_process'

/** The answer of one `docker` command. */
export interface CommandResult {
  code: number
  stdout: string
  stderr: string
  /** Wall time in milliseconds. */
  ms: number
}

/** Options of {@link Compose}. */
export interface ComposeOptions {
  /** Compose project name; kept apart from a user's own `strata` project. */
  project: string
  /** `-f` files, in order (the shipped file first, then the stand-in override). */
  files: readonly string[]
  /** Variables the compose files read (passwords, port, rate limits). */
  env: Record<string, string>
  /** Repository root: the working directory of every command. */
  cwd: string
}

/** Runs `docker` with `args`; never throws for a non-zero exit (see `code`). */
export function docker(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; echo?: boolean | undefined } = {},
): Promise<CommandResult> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      if (options.echo) process.stdout.write(chunk)
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (options.echo) process.stderr.write(chunk)
    })
    child.on('error', reject)
    child.on('close', (code) =>
      resolve({ code: code ?? 1, stdout, stderr, ms: performance.now() - started }),
    )
  })
}

/** Options of one {@link Compose} command. */
export interface RunOptions {
  /** Copy the command's output to this process's as it comes. */
  echo?: boolean
  /** Variables on top of the run's. */
  env?: Record<string, string>
  /** Other `-f` files than the run's. */
  files?: readonly string[]
}

/** `docker compose -p PROJECT -f ... -f ...`, with the run's variables. */
export class Compose {
  readonly #options: ComposeOptions

  constructor(options: ComposeOptions) {
    this.#options = options
  }

  get project(): string {
    return this.#options.project
  }

  /** Runs `docker compose ARGS`; never throws for a non-zero exit. */
  run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const { project, env, cwd } = this.#options
    const files = options.files ?? this.#options.files
    return docker(['compose', '-p', project, ...files.flatMap((f) => ['-f', f]), ...args], {
      cwd,
      env: { ...env, ...options.env },
      echo: options.echo,
    })
  }

  /** Runs `docker compose ARGS` and throws with its output when it fails. */
  async must(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const result = await this.run(args, options)
    if (result.code !== 0)
      throw new Error(
        `docker compose ${args.join(' ')} exited ${result.code}\n${result.stdout}${result.stderr}`,
      )
    return result
  }

  /** Full ids of the service's containers, running or not. */
  async containerIds(service: string): Promise<string[]> {
    const { stdout } = await this.must(['ps', '-q', service])
    return stdout.split('\n').filter(Boolean)
  }
}

/** A replica's id as the API reports it: its container's hostname, the id's first 12 characters. */
export const replicaIdOf = (containerId: string) => containerId.slice(0, 12)
