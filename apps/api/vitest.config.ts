import { SERVER_SUITE_SETTINGS } from '@strata/test-servers'
import { defineConfig } from 'vitest/config'

export default defineConfig({ test: SERVER_SUITE_SETTINGS })
