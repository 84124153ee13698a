// k6 run -e BASE_URL=http://localhost:8005 loadtests/k6/hot-key.ts   (see loadtests/k6/README.md)
import { scenarioScript } from './lib/script.ts'

const script = scenarioScript('hot-key')

export const options = script.options
export default script.iteration
export const handleSummary = script.handleSummary
