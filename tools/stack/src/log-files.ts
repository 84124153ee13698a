import { closeSync, fstatSync, openSync, readSync } from 'node:fs'

/**
 * Opens a component's log file for its stdout and stderr. A fresh stack truncates it so the file
 * only shows this run; a restarted replica appends, so the crash before the restart stays readable.
 */
export function openLogFile(path: string, mode: 'truncate' | 'append'): number {
  return openSync(path, mode === 'truncate' ? 'w' : 'a')
}

/** The last `lines` lines of a file, or '' when it is missing or empty. Reads at most 64 KiB. */
export function tailFile(path: string, lines: number): string {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return ''
  }
  try {
    const size = fstatSync(fd).size
    const length = Math.min(size, 64 * 1024)
    const buffer = Buffer.alloc(length)
    readSync(fd, buffer, 0, length, size - length)
    return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } finally {
    closeSync(fd)
  }
}
