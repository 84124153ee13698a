// Preloaded into every replica and bare server by `pnpm loadtest:limit --profile`
// (NODE_OPTIONS="--import …/cpu-profiler-preload.mjs", since --cpu-prof itself is refused in
// NODE_OPTIONS). Samples the CPU every 500 µs and writes <STRATA_CPU_PROF_DIR>/CPU.<pid>.cpuprofile
// when the process exits, in the format of Chrome DevTools and `node --cpu-prof`.
import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { join } from 'node:path'

const dir = process.env.STRATA_CPU_PROF_DIR
if (dir) {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 500 })
  session.post('Profiler.start')
  process.on('exit', () => {
    // The in-process inspector answers synchronously, so this completes before the exit.
    session.post('Profiler.stop', (error, result) => {
      if (!error)
        writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
