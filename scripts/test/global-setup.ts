import { ensureBuilt } from '../src/stack/build.js'
import { REPO_ROOT } from '../src/stack/config.js'
import { consoleReporter } from '../src/stack/reporter.js'

/**
 * The e2e tests run apps/api/dist. `turbo run test` builds only this package's dependencies, and
 * the API is not one of them, so build it here when it is missing or stale.
 */
export default function setup(): void {
  ensureBuilt(REPO_ROOT, consoleReporter, { api: true })
}
