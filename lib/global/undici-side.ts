// What install() needs from undici — the global dispatcher slots and
// StallGuardAgent — loaded only where undici is installed: it is a peer
// dependency, and an application of node:http clients alone has no need
// for it (install() then covers node:http(s), and Node's built-in fetch
// through the connection channel only; see install.ts).
import type { Dispatcher } from 'undici'
import type { StallGuardAgent } from '../undici/agent'
import { isUndiciMissing } from '../undici/optional'

export interface UndiciSide {
  getGlobalDispatcher(): Dispatcher
  setGlobalDispatcher(dispatcher: Dispatcher): void
  StallGuardAgent: typeof StallGuardAgent
}

/** undici's global-dispatcher functions and our agent, or undefined when undici is not installed. */
export function loadUndiciSide(): UndiciSide | undefined {
  try {
    const undici = require('undici') as typeof import('undici')
    const { StallGuardAgent: Agent } = require('../undici/agent') as typeof import('../undici/agent')
    return { getGlobalDispatcher: undici.getGlobalDispatcher, setGlobalDispatcher: undici.setGlobalDispatcher, StallGuardAgent: Agent }
  } catch (err) {
    if (isUndiciMissing(err)) return undefined
    throw err
  }
}
