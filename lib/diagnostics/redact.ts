// Secrets must never leave through an error message, a debug line, a channel
// payload, an in-flight dump or doctor output. S3 presigned URLs carry the
// signature and credential in the query string, and URLs may carry userinfo
// (`https://user:pass@host/`). Everything stallguard prints about a request
// goes through these helpers: the query becomes `?…`, userinfo is dropped,
// the fragment (never sent, but sometimes logged) too.

/** A request path (`/bucket/key?X-Amz-Signature=…`) without its query string. */
export function redactPath(path: unknown): string {
  if (typeof path !== 'string') return ''
  const cut = path.search(/[?#]/)
  if (cut === -1) return path
  return path[cut] === '?' ? `${path.slice(0, cut)}?…` : path.slice(0, cut)
}

/**
 * An origin (`https://host:port`) as it may be written by a caller: a string
 * or a URL, possibly with userinfo, a path or a query. Returns
 * `protocol//host[:port]` (the port kept when it is in the input), or the
 * input with anything after the authority removed when it does not parse.
 */
export function redactOrigin(origin: unknown): string {
  if (origin === undefined || origin === null) return ''
  const text = origin instanceof URL ? origin.href : String(origin)
  try {
    const url = new URL(text)
    return `${url.protocol}//${url.host}`
  } catch {
    // Not a URL: keep the scheme and authority, drop userinfo and the rest.
    const match = /^([a-z][a-z0-9+.-]*:\/\/)?(?:[^@/?#]*@)?([^/?#]*)/i.exec(text)
    return match ? `${match[1] ?? ''}${match[2] ?? ''}` : ''
  }
}

/** A whole URL with userinfo dropped and the query string replaced by `?…`. */
export function redactUrl(url: unknown): string {
  if (url === undefined || url === null) return ''
  const text = url instanceof URL ? url.href : String(url)
  try {
    const parsed = new URL(text)
    return `${parsed.protocol}//${parsed.host}${redactPath(parsed.pathname + parsed.search)}`
  } catch {
    return redactOrigin(text) + redactPath(text.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/?#]*/i, ''))
  }
}
