import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Each file starts its own PostgreSQL and Redis; generous limits absorb a loaded CI machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
})
