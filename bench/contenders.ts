// Who is measured: each stallguard front door next to the agent it replaces.
// The first entry of each group is the baseline its ratios are taken against.
import http from 'node:http'
import { Agent } from 'undici'
import { install, StallGuardAgent, StallGuardHttpAgent, type InstallOptions, type Uninstall } from 'stallguard'
import { httpSender, undiciSender, type Send, type Target } from './load'
import { ca } from '../test/fixtures/tls'

// Every process that measures a client imports this file. tsx turns source
// maps on, and then every Error's stack costs a source-map lookup per frame
// when read. undici destroys each `connection: close` socket with an Error
// whose stack Node's stream code reads (internal/streams/destroy.js), so the
// churn rows paid ~40 µs per connection more than a user's `node app.js`
// does, on both sides of each ratio. Measure what production pays.
process.setSourceMapsEnabled(false)

export interface Client {
  send(target: Target): Send
  close(): Promise<void>
  /** Process-wide state only this contender may have on (install()), switched on in the process that measures it. */
  enter?(): void
  leave?(): Promise<void>
}

export interface Contender {
  name: string
  /** a client with room for `connections` concurrent connections */
  make(connections: number): Client
}

const undiciClient = (dispatcher: Agent): Client => ({
  send: (target) => undiciSender(dispatcher, target),
  close: () => dispatcher.close(),
})

const httpClient = (agent: http.Agent): Client => ({
  send: (target) => httpSender(agent, target),
  close: async () => agent.destroy(),
})

export const undiciGroup: Contender[] = [
  { name: 'undici.Agent', make: (connections) => undiciClient(new Agent({ connections })) },
  { name: 'StallGuardAgent', make: (connections) => undiciClient(new StallGuardAgent({ connections })) },
  {
    name: 'StallGuardAgent + deadline',
    make: (connections) => undiciClient(new StallGuardAgent({ connections, deadline: 60_000 })),
  },
  {
    name: 'StallGuardAgent + deadline + minThroughput',
    make: (connections) => undiciClient(new StallGuardAgent({ connections, deadline: 60_000, minThroughput: true })),
  },
]

/**
 * HTTP/2 over TLS: one connection per agent carrying `streams` concurrent
 * streams (undici counts h2 streams against `pipelining`, default 1).
 */
const h2 = (streams: number) => ({ allowH2: true, connections: 1, pipelining: streams, connect: { ca } })

export const h2Group: Contender[] = [
  { name: 'undici.Agent (h2)', make: (streams) => undiciClient(new Agent(h2(streams))) },
  { name: 'StallGuardAgent (h2)', make: (streams) => undiciClient(new StallGuardAgent(h2(streams))) },
  {
    name: 'StallGuardAgent (h2) + deadline + minThroughput',
    make: (streams) => undiciClient(new StallGuardAgent({ ...h2(streams), deadline: 60_000, minThroughput: true })),
  },
]

export const httpGroup: Contender[] = [
  { name: 'http.Agent', make: (maxSockets) => httpClient(new http.Agent({ keepAlive: true, maxSockets })) },
  { name: 'StallGuardHttpAgent', make: (maxSockets) => httpClient(new StallGuardHttpAgent({ maxSockets })) },
  {
    name: 'StallGuardHttpAgent + deadline + minThroughput',
    make: (maxSockets) => httpClient(new StallGuardHttpAgent({ maxSockets, deadline: 60_000, minThroughput: true })),
  },
]

/**
 * A plain http.Agent the application built, without and with install()'s
 * process-wide hooks (the case of an SDK's own agent under the preload).
 * install() is on only in the process that measures this contender, so the
 * baseline's requests never meet the hooks.
 */
const underInstall = (options: InstallOptions) => (maxSockets: number): Client => {
  const agent = new http.Agent({ keepAlive: true, maxSockets })
  let uninstall: Uninstall | undefined
  return {
    send: (target) => httpSender(agent, target),
    close: async () => agent.destroy(),
    enter: () => { uninstall = install({ ...options, env: false }) },
    leave: async () => { await uninstall?.() },
  }
}

export const installGroup: Contender[] = [
  { name: 'http.Agent (no install)', make: (maxSockets) => httpClient(new http.Agent({ keepAlive: true, maxSockets })) },
  { name: 'http.Agent under install()', make: underInstall({}) },
  { name: 'http.Agent under install() + deadline', make: underInstall({ deadline: 60_000 }) },
]

/** The HTTP/1.1 groups (the instruction counts and memory runs take their contenders by name from these). */
export const groups = [undiciGroup, httpGroup, installGroup]

/**
 * `npm run bench -- --control`: each group's baseline runs a second time
 * under this suffix, an A/A pair that shows how far two identical
 * contenders' ratios stray on this machine.
 */
export const CONTROL_SUFFIX = ' (A/A control)'

export function withControl(group: Contender[]): Contender[] {
  const [baseline, ...rest] = group
  return [baseline!, { ...baseline!, name: baseline!.name + CONTROL_SUFFIX }, ...rest]
}

export function byName(name: string): Contender {
  const plain = name.endsWith(CONTROL_SUFFIX) ? name.slice(0, -CONTROL_SUFFIX.length) : name
  const found = [...groups, h2Group].flat().find((c) => c.name === plain)
  if (found === undefined) throw new Error(`unknown contender ${name}`)
  return found
}
