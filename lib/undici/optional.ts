// undici is a peer dependency: a user of the node:http agents alone need not
// install it. Everything that loads undici is reached through here, on first
// use, so `require('stallguard')` and `stallguard doctor` work without it.

/** The error for a part of stallguard that needs undici, when it is not installed. */
export function undiciMissingError(what: string, cause: unknown): Error {
  const err = new Error(`stallguard: ${what} needs undici, a peer dependency that is not installed here: ` +
    'npm install undici (the node:http agents work without it)', { cause }) as Error & { code: string }
  err.code = 'SG_ERR_UNDICI_MISSING'
  return err
}

/** Only "undici itself cannot be found" means missing; any other failure is a real one. */
export function isUndiciMissing(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null
  return e?.code === 'MODULE_NOT_FOUND' && /['"]undici(\/package\.json)?['"]/.test(e.message ?? '')
}

/** `require(id)` for a module that needs undici; a missing undici becomes {@link undiciMissingError}. */
export function loadWithUndici<T>(what: string, load: () => T): T {
  try {
    return load()
  } catch (err) {
    throw isUndiciMissing(err) ? undiciMissingError(what, err) : err
  }
}

/** Whether undici can be loaded from here (its package.json, nothing run). */
export function undiciAvailable(): boolean {
  try {
    require.resolve('undici')
    return true
  } catch {
    return false
  }
}
