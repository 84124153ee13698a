import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { runTimestamp, setting } from './cli-support.js'

describe('setting', () => {
  it('reads a variable, empty counting as unset', () => {
    expect(setting('A', { A: 'x' })).toBe('x')
    expect(setting('A', { A: '' })).toBeUndefined()
    expect(setting('A', {})).toBeUndefined()
  })
})

describe('abortOnInterrupt', () => {
  it('aborts on the first SIGINT and exits with 130 on the second', async () => {
    const module = fileURLToPath(new URL('./cli-support.ts', import.meta.url))
    // A command that reports its abort and then keeps running, as one stopping a stack would.
    const script = `
      const { abortOnInterrupt } = await import(${JSON.stringify(module)})
      const signal = abortOnInterrupt('stopping the test')
      signal.addEventListener('abort', () => console.log('aborted'))
      console.log('ready')
      setInterval(() => {}, 1000)
    `
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    let stderr = ''
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => stdout.includes(text) && resolve()
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString()
          check()
        })
        check()
      })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    await seen('ready')
    child.kill('SIGINT')
    await seen('aborted')
    expect(stderr).toContain('Interrupted: stopping the test (press Ctrl-C again to exit at once)')
    child.kill('SIGINT')
    const [code] = await once(child, 'exit')
    expect(code).toBe(130)
  })
})

describe('runTimestamp', () => {
  it('names a run by its UTC second, with no character a path would mind', () => {
    expect(runTimestamp(new Date('2026-11-24T13:05:09.123Z'))).toBe('2026-11-24T13-05-09')
  })
})
