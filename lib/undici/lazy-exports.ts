// The undici-facing exports of the package, loaded on first access (see
// optional.ts): each getter requires its module once (require caches it)
// and turns a missing undici into one clear error. index.ts declares the
// names for the compiler and defines them on its exports as getters over
// this object.
import type * as AgentModule from './agent'
import type * as ConnectorModule from './connector'
import type * as InterceptorsModule from './interceptors'
import { loadWithUndici } from './optional'

export const lazyUndiciExports = {
  get StallGuardAgent(): typeof AgentModule.StallGuardAgent {
    return loadWithUndici('StallGuardAgent', () => (require('./agent') as typeof AgentModule).StallGuardAgent)
  },
  get connector(): typeof ConnectorModule.connector {
    return loadWithUndici('connector()', () => (require('./connector') as typeof ConnectorModule).connector)
  },
  get interceptors(): typeof InterceptorsModule.interceptors {
    return loadWithUndici('interceptors', () => (require('./interceptors') as typeof InterceptorsModule).interceptors)
  },
}
