export {
  type CheckOptions,
  type CheckReport,
  checkHistory,
  type StalenessSummary,
  VIOLATION_KINDS,
  type Violation,
  type ViolationKind,
} from './checker.js'
export { readVersions } from './database.js'
export {
  History,
  type HistoryLog,
  type PendingOp,
  type ReadAnswer,
  type ReadOp,
  type ReadOutcome,
  readOutcomeOf,
  type WriteAnswer,
  type WriteOp,
  type WriteOutcome,
  writeOutcomeOf,
} from './history.js'
export { readOp, writeOp } from './ops.js'
export { percentile } from './percentile.js'
export { StrataClient, type StrataClientOptions } from './strata-client.js'
export {
  COMMIT_STATEMENT,
  type ProxyDirection,
  startTcpProxy,
  TcpProxy,
  type TcpProxyOptions,
} from './tcp-proxy.js'
