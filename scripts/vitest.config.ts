import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Builds the API once, before any file starts a stack from it.
    globalSetup: ['test/global-setup.ts'],
    // Every file runs a whole stack (PostgreSQL, Redis, 3 replicas, nginx): one at a time, with
    // timeouts that absorb a loaded 2-core CI machine. Tests poll with deadlines; none sleeps.
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 180_000,
  },
})
