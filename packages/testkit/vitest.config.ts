import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // The proxy tests measure delays on real sockets: generous limits absorb a loaded machine.
    testTimeout: 30_000,
  },
})
