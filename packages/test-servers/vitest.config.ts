import { defineConfig } from 'vitest/config'
import { SERVER_SUITE_SETTINGS } from './src/vitest-settings.js'

export default defineConfig({ test: SERVER_SUITE_SETTINGS })
