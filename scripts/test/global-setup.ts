import { ensureBuilt } from '@strata/stack/build'
import { REPO_ROOT } from '@strata/stack/config'
import { consoleReporter } from '@strata/stack/reporter'

/**
 * The e2e tests run apps/api/dist. `turbo run test` builds only this package's dependencies, and
 * the API is not one of them, so build it here when it is missing or stale.
 */
export default function setup(): void {
  ensureBuilt(REPO_ROOT, consoleReporter, { api: true })
}
