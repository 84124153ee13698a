import { parseDuration } from '@strata/stack/duration'
import { describe, expect, it } from 'vitest'
import { flag, int, parseOptions, SCENARIO_OPTIONS, text, texts } from './options.js'
import { parseCommandStats, redisRoundTrips } from './probes.js'
import { niceMax } from './svg.js'
import { parseThreshold } from './thresholds.js'
import { parseWrk } from './wrk.js'

describe('parseDuration', () => {
  it('reads k6-style durations and bare seconds', () => {
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('1m30s')).toBe(90_000)
    expect(parseDuration('500ms')).toBe(500)
    expect(parseDuration('2')).toBe(2_000)
    expect(parseDuration('1.5s')).toBe(1_500)
  })
  it('refuses anything else', () => {
    for (const bad of ['', '30', 'x', '30 s', '10sec', '5s!']) {
      if (bad === '30') continue
      expect(() => parseDuration(bad)).toThrow(RangeError)
    }
  })
})

describe('parseThreshold', () => {
  it('reads METRIC OP NUMBER', () => {
    expect(parseThreshold('combined_hit_rate>90')).toEqual({
      metric: 'combined_hit_rate',
      op: '>',
      value: 90,
    })
    expect(parseThreshold(' errors == 0 ')).toEqual({ metric: 'errors', op: '==', value: 0 })
    expect(parseThreshold('p99_ms<=12.5')).toEqual({ metric: 'p99_ms', op: '<=', value: 12.5 })
  })
  it('names the known metrics when given an unknown one', () => {
    expect(() => parseThreshold('hits>1')).toThrow(/unknown metric hits; known: errors/)
    expect(() => parseThreshold('errors=0')).toThrow(/expected METRIC OP NUMBER/)
  })
})

describe('parseWrk', () => {
  it('reads throughput, errors and latency percentiles', () => {
    const text = `Running 5s test @ http://127.0.0.1:8005/read/k
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.02ms  21.47ms   88.12%
    Req/Sec    20.71k     1.11k   22.43k    76.00%
  Latency Distribution
     50%    2.93ms
     75%    3.35ms
     90%    4.01ms
     99%  850.00us
  103012 requests in 5.00s, 48.41MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  20598.41
Transfer/sec:      9.68MB`
    expect(parseWrk(text)).toEqual({
      rps: 20598.41,
      requests: 103012,
      errors: 7,
      p50_ms: 2.93,
      p99_ms: 0.85,
    })
  })
})

describe('Redis command counting', () => {
  it('parses INFO commandstats', () => {
    const info =
      '# Commandstats\r\ncmdstat_get:calls=12,usec=40,usec_per_call=3.33\r\ncmdstat_config|resetstat:calls=1,usec=5\r\n'
    expect(parseCommandStats(info)).toEqual({ get: 12, 'config|resetstat': 1 })
  })
  it('counts round trips: not the commands Lua scripts run, nor our own INFO', () => {
    const before = { get: 10, evalsha: 5, set: 5, getrange: 5, pttl: 2, zadd: 1, info: 1 }
    // 100 GETs, 20 EVALSHAs (each a GETRANGE + SET inside), 3 stats flushes (SET + ZADD), 1 INFO.
    const after = {
      get: 110,
      evalsha: 25,
      set: 28,
      getrange: 25,
      pttl: 9,
      zadd: 4,
      info: 2,
      publish: 7,
    }
    expect(redisRoundTrips(before, after)).toEqual({
      total: 100 + 20 + 3 + 3 + 7,
      byCommand: { get: 100, evalsha: 20, set: 3, zadd: 3, publish: 7 },
    })
  })
})

describe('niceMax', () => {
  it('ends the axis where every quarter is a round number', () => {
    expect(niceMax(30.3)).toBe(32)
    expect(niceMax(10_804)).toBe(12_000)
    expect(niceMax(100)).toBe(100)
    expect(niceMax(6421)).toBe(8000)
    expect(niceMax(0.7)).toBe(0.8)
  })
})

describe('parseOptions', () => {
  const spec = {
    ...SCENARIO_OPTIONS,
    rate: int(),
    target: text(),
    threshold: texts(),
    'no-seed': flag(),
  }
  it('converts numbers and durations once and fills defaults', () => {
    const { values, positionals } = parseOptions(
      ['hot-key', '--vus', '8', '--duration', '1m', '--threshold', 'errors==0', '--no-seed'],
      spec,
      1,
    )
    expect(positionals).toEqual(['hot-key'])
    expect(values).toEqual({
      duration: 60_000,
      warmup: 5_000,
      vus: 8,
      seed: 1,
      'no-prime': false,
      rate: undefined,
      target: undefined,
      threshold: ['errors==0'],
      'no-seed': true,
    })
  })
  it('names the option and what it expects', () => {
    expect(() => parseOptions(['--vus', '0'], spec)).toThrow('--vus: expected a whole number ≥ 1')
    expect(() => parseOptions(['--rate', '1.5'], spec)).toThrow('--rate: expected a whole number')
    expect(() => parseOptions(['--warmup', 'soon'], spec)).toThrow('--warmup: not a duration')
    expect(() => parseOptions(['a', 'b'], spec, 1)).toThrow('expected at most 1 argument(s)')
    expect(() => parseOptions(['--nope'], spec)).toThrow(/Unknown option '--nope'/)
  })
})
