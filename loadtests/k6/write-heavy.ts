// k6 run -e BASE_URL=http://localhost:8005 loadtests/k6/write-heavy.ts   (see loadtests/k6/README.md)
import { scenarioScript } from './lib/script.ts'

const script = scenarioScript('write-heavy')

export const options = script.options
export default script.iteration
export const handleSummary = script.handleSummary
