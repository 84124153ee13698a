/** How a mode is named in tables and charts. */
const MODE_LABEL: Record<string, string> = {
  multi: 'multi (L1+L2)',
  'multi-affinity': 'multi + affinity',
  l2: 'l2 (Redis only)',
  l1: 'l1 (L1+bus)',
  none: 'none (DB only)',
  'multi-cluster': 'multi on Redis Cluster',
}
export const modeLabel = (mode: string) => MODE_LABEL[mode] ?? mode

export const f1 = (n: number) => n.toFixed(1)
export const int = (n: number) => Math.round(n).toLocaleString('en-US')
export const cmds = (n: number | null) => (n === null ? '–' : n.toFixed(3))
