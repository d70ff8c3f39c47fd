// Which process-wide clients install() may replace. Only the defaults
// nobody configured: undici's own default Agent, and Node's plain global
// http(s) agents. Anything the application (or Node, from
// NODE_USE_ENV_PROXY) put there — a ProxyAgent, an EnvHttpProxyAgent, a
// proxy http.Agent from another package — routes requests its own way, and
// a replacement would route around it. Those are kept (see
// process-hooks.ts for how their sockets are protected).
import http from 'node:http'
import https from 'node:https'

/**
 * undici's default global dispatcher is a plain `Agent` (any undici copy,
 * Node's bundled one included: classes differ between copies, names do not).
 * An Agent the application configured itself looks the same from outside;
 * its options are private to it, so it is replaced like the default.
 */
export function isDefaultDispatcher(dispatcher: unknown): boolean {
  return dispatcher !== null && typeof dispatcher === 'object' && dispatcher.constructor?.name === 'Agent'
}

/** Node's own agent class (not a subclass from a proxy package): replaceable, its options carried over. */
export function isNodeAgent(agent: unknown, protocol: 'http' | 'https'): agent is http.Agent {
  const NodeAgent = protocol === 'https' ? https.Agent : http.Agent
  return agent !== null && typeof agent === 'object' && Object.getPrototypeOf(agent) === NodeAgent.prototype
}

/**
 * The options of a Node agent install() replaces, for its successor: the
 * global agent's settings (keep-alive, LIFO, 5 s socket timeout), Node 24's
 * `proxyEnv` (set from NODE_USE_ENV_PROXY or http.setGlobalProxyFromEnv())
 * and TLS settings an application put there, e.g. `https.globalAgent.options.ca`.
 */
export function inheritedOptions(agent: http.Agent): Record<string, unknown> {
  const { path: _path, ...options } = (agent as unknown as { options: Record<string, unknown> }).options
  return options
}
