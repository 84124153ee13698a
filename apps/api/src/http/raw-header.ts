/** A header from `rawHeaders` by its lowercase name, without building `req.headers`. */
export function rawHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const header = raw[i] as string
    if (header.length === name.length && header.toLowerCase() === name) return raw[i + 1]
  }
  return undefined
}
