import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']

/** The installed Chromium, or undefined. */
export const findChromium = (): string | undefined => CHROMIUM.find((path) => existsSync(path))

/**
 * Renders an HTML page to a PNG with headless Chromium, offline (no network is touched: the page
 * is self-contained). Resolves false, with the reason, when Chromium is missing or fails.
 */
export async function renderPng(
  html: string,
  output: string,
  size: { width: number; height: number },
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const chromium = findChromium()
  if (!chromium) return { ok: false, reason: 'no Chromium found (apt-get install chromium)' }
  const dir = mkdtempSync(join(tmpdir(), 'strata-chart-'))
  const page = join(dir, 'chart.html')
  writeFileSync(page, html)
  try {
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(
        chromium,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--hide-scrollbars',
          `--user-data-dir=${join(dir, 'profile')}`,
          `--window-size=${size.width},${size.height}`,
          `--screenshot=${output}`,
          pathToFileURL(page).href,
        ],
        { stdio: 'ignore' },
      )
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
      child.once('error', () => resolve(-1))
      child.once('exit', (status) => {
        clearTimeout(timer)
        resolve(status)
      })
    })
    if (code !== 0 || !existsSync(output))
      return { ok: false, reason: `chromium exited with ${code}` }
    return { ok: true }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
