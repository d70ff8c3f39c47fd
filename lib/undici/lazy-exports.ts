// The undici-facing exports of the package, loaded on first access (see
// optional.ts). The names are declared for the compiler and defined as
// getters for the runtime; each getter requires its module once (require
// caches it) and turns a missing undici into one clear error.
import type * as AgentModule from './agent'
import type * as ConnectorModule from './connector'
import type * as InterceptorsModule from './interceptors'
import { loadWithUndici } from './optional'

export declare const StallGuardAgent: typeof AgentModule.StallGuardAgent
export type StallGuardAgent = AgentModule.StallGuardAgent
export declare const connector: typeof ConnectorModule.connector
export declare const interceptors: typeof InterceptorsModule.interceptors

const getters: Record<string, () => unknown> = {
  StallGuardAgent: () => loadWithUndici('StallGuardAgent', () => (require('./agent') as typeof AgentModule).StallGuardAgent),
  connector: () => loadWithUndici('connector()', () => (require('./connector') as typeof ConnectorModule).connector),
  interceptors: () => loadWithUndici('interceptors', () => (require('./interceptors') as typeof InterceptorsModule).interceptors),
}
for (const [name, get] of Object.entries(getters)) {
  Object.defineProperty(exports, name, { enumerable: true, configurable: false, get })
}
