// Who is measured: each stallguard front door next to the agent it replaces.
// The first entry of each group is the baseline its ratios are taken against.
import http from 'node:http'
import { Agent } from 'undici'
import { StallGuardAgent, StallGuardHttpAgent } from 'stallguard'
import { httpSender, undiciSender, type Send, type Target } from './load'

export interface Client {
  send(target: Target): Send
  close(): Promise<void>
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

export const httpGroup: Contender[] = [
  { name: 'http.Agent', make: (maxSockets) => httpClient(new http.Agent({ keepAlive: true, maxSockets })) },
  { name: 'StallGuardHttpAgent', make: (maxSockets) => httpClient(new StallGuardHttpAgent({ maxSockets })) },
  {
    name: 'StallGuardHttpAgent + deadline + minThroughput',
    make: (maxSockets) => httpClient(new StallGuardHttpAgent({ maxSockets, deadline: 60_000, minThroughput: true })),
  },
]

export const groups = [undiciGroup, httpGroup]

export function byName(name: string): Contender {
  const found = groups.flat().find((c) => c.name === name)
  if (found === undefined) throw new Error(`unknown contender ${name}`)
  return found
}
