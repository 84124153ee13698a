import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Builds the API once, before any file starts a stack from it.
    globalSetup: ['test/global-setup.ts'],
    // Each fault runs on its own whole stack (PostgreSQL, Redis, 3 replicas, nginx): one at a
    // time, with limits that absorb a loaded 2-core CI machine.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
})
