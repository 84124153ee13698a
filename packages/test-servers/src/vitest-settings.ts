/**
 * The vitest `test` settings of a suite whose files each start their own servers (a
 * redis-server, a PostgreSQL): one file at a time, so that two never compete for the machine,
 * and generous limits that absorb a loaded CI machine. A plain object, so that this package
 * needs no vitest of its own.
 * @example export default defineConfig({ test: SERVER_SUITE_SETTINGS })
 */
export const SERVER_SUITE_SETTINGS = {
  include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  testTimeout: 30_000,
  hookTimeout: 60_000,
  fileParallelism: false,
}
