// What one front door (an agent, a connector) has learnt about the addresses
// it connects to, keyed by address and port. Only addresses with a recent
// failure have an entry: a healthy pool keeps the book empty, and nothing
// here runs per request — only when a connection is made or dies.
//
// up → down: a kernel timeout while connecting, or STREAK kernel timeouts on
// established connections with no successful connect between them (within
// one user timeout of each other). One connection lost on its own (a NAT
// entry dropped) leaves the address up.
// down → probing: the cool-down ran out; the next connection is the probe,
// every other one still treats the address as down.
// probing → up on connect; → down again (cool-down doubled, jittered, capped)
// when the probe fails.
import { performance } from 'node:perf_hooks'
import type net from 'node:net'
import { channels, type AddressDownMessage, type AddressUpMessage } from '../diagnostics/channels'
import { debug, debugEnabled } from '../diagnostics/debug'
import { formatEndpoint } from '../diagnostics/endpoint'
import { AddressDownError } from '../errors'
import type { ResolvedAddressHealth } from './options'
import { registerBook } from './registry'

/** Kernel timeouts on established connections, with no successful connect between, that condemn an address. */
export const STREAK = 3
/** Entries kept at most; the oldest healthy one goes first. */
const MAX_ENTRIES = 1024

type State = 'up' | 'down' | 'probing'

interface Entry {
  address: string
  port: number
  state: State
  /** Failures since the last successful connect, and when the last one was (performance.now()). */
  streak: number
  lastFailure: number
  /** Epoch ms the address went down. */
  since: number
  reason: string
  error: Error | undefined
  /** Failed probes since it went down: the cool-down's exponent. */
  probes: number
  /** performance.now() from which a probe may go out. */
  retryAt: number
  coolDown: number
}

/** One down address as agent.downAddresses() and the dump list it. */
export interface DownAddress {
  address: string
  port: number
  state: 'down' | 'probing'
  /** When it went down (epoch ms). */
  since: number
  reason: string
  /** ms until the next probe may go out (0: due, or in flight). */
  probeIn: number
}

const keyOf = (address: string, port: number): string => `${address}\0${port}`

/** The address and port a socket is attempting (the socket's tracker, read when an address goes down). */
export interface Attempt {
  readonly address: string | undefined
  readonly port: number
}

export class AddressBook {
  readonly #rule: ResolvedAddressHealth
  readonly #entries = new Map<string, Entry>()
  /**
   * Sockets connecting right now and what they attempt: condemned with the
   * address. Keyed by socket (no key string or set per connection); scanned
   * only when an address goes down, and only connects in flight are here.
   */
  readonly #connecting = new Map<net.Socket, Attempt>()
  /** Rotates the starting address among healthy ones, so new connections spread. */
  #turn = 0

  constructor(rule: ResolvedAddressHealth) {
    this.#rule = rule
    registerBook(this)
  }

  /**
   * Why a connection to this address must not be attempted now, or
   * undefined. When the cool-down has run out, the caller's connection
   * becomes the probe.
   */
  refusal(address: string, port: number): AddressDownError | undefined {
    // A healthy pool keeps the book empty: no key to build.
    if (this.#entries.size === 0) return undefined
    const entry = this.#entries.get(keyOf(address, port))
    if (entry === undefined || entry.state === 'up') return undefined
    if (entry.state === 'down' && performance.now() >= entry.retryAt) {
      this.#startProbe(entry)
      return undefined
    }
    return this.#error(entry)
  }

  /**
   * A resolver's answer, best first: healthy addresses (never failed first,
   * rotated so connections spread; then least recently failed), preceded by
   * one address whose cool-down ran out when `probe` allows (the probe; Node's
   * happy eyeballs moves on from it after its attempt timeout). Down
   * addresses are left out. When nothing is left, the error of the address
   * that went down last (the condemning kernel error, in a sentence).
   */
  order<T extends { address: string }>(answers: readonly T[], port: number, probe: boolean): T[] | AddressDownError {
    const fresh: T[] = []
    const failed: Array<[T, Entry]> = []
    let due: [T, Entry] | undefined
    let refused: Entry | undefined
    const now = performance.now()
    for (const answer of answers) {
      const entry = this.#entries.get(keyOf(answer.address, port))
      if (entry === undefined) fresh.push(answer)
      else if (entry.state === 'up') failed.push([answer, entry])
      else if (entry.state === 'down' && now >= entry.retryAt && due === undefined) due = [answer, entry]
      else if (refused === undefined || entry.since > refused.since) refused = entry
    }
    if (fresh.length > 1) {
      const start = this.#turn++ % fresh.length
      fresh.push(...fresh.splice(0, start))
    }
    failed.sort((a, b) => a[1].lastFailure - b[1].lastFailure)
    const healthy = fresh.concat(failed.map(([answer]) => answer))
    if (due !== undefined && (probe || healthy.length === 0)) {
      this.#startProbe(due[1])
      return [due[0], ...healthy]
    }
    if (healthy.length > 0) return healthy
    return this.#error(refused ?? due![1])
  }

  /** A connection to this address succeeded. */
  connected(address: string, port: number): void {
    if (this.#entries.size === 0) return
    const key = keyOf(address, port)
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    this.#entries.delete(key)
    if (entry.state === 'up') return
    const downFor = Date.now() - entry.since
    if (channels.addressUp.hasSubscribers) {
      const message: AddressUpMessage = { address, port, reason: entry.reason, downFor }
      channels.addressUp.publish(message)
    }
    if (debugEnabled()) debug('address-up', `${formatEndpoint(address, port)} is up again after ${(downFor / 1000).toFixed(1)} s down`)
  }

  /**
   * A connection to this address failed. `connecting`: before it was
   * established (a kernel timeout there condemns at once). `kernel`: the
   * kernel's timeout verdict; other failures only end a probe.
   */
  failed(address: string, port: number, error: Error, how: { connecting: boolean; kernel: boolean; reason: string }): void {
    const key = keyOf(address, port)
    let entry = this.#entries.get(key)
    if (entry?.state === 'probing') {
      this.#down(entry, error, how.reason)
      return
    }
    if (!how.kernel || entry?.state === 'down') return
    const now = performance.now()
    if (entry === undefined) {
      if (this.#entries.size >= MAX_ENTRIES) this.#evict()
      entry = {
        address, port, state: 'up', streak: 0, lastFailure: now, since: 0, reason: '', error: undefined,
        probes: 0, retryAt: 0, coolDown: 0,
      }
      this.#entries.set(key, entry)
    }
    // Failures further apart than a user timeout are not one outage.
    const window = Math.max(1000, (error as { userTimeout?: number }).userTimeout ?? 0)
    entry.streak = now - entry.lastFailure > window ? 1 : entry.streak + 1
    entry.lastFailure = now
    if (how.connecting || entry.streak >= STREAK) this.#down(entry, error, how.reason)
  }

  /** A socket attempts an address (Node's 'connectionAttempt'), or stopped attempting (`undefined`). */
  attempting(socket: net.Socket, attempt: Attempt | undefined): void {
    if (attempt === undefined) this.#connecting.delete(socket)
    else this.#connecting.set(socket, attempt)
  }

  /** Addresses that are down or being probed, for agent.downAddresses() and the dump. */
  down(): DownAddress[] {
    const now = performance.now()
    const list: DownAddress[] = []
    for (const e of this.#entries.values()) {
      if (e.state === 'up') continue
      list.push({
        address: e.address, port: e.port, state: e.state, since: e.since, reason: e.reason,
        probeIn: e.state === 'down' ? Math.max(0, Math.round(e.retryAt - now)) : 0,
      })
    }
    return list
  }

  #startProbe(entry: Entry): void {
    entry.state = 'probing'
    if (debugEnabled()) debug('address-probe', `${formatEndpoint(entry.address, entry.port)}: cool-down over, one probe connection`)
  }

  #error(entry: Entry): AddressDownError {
    return new AddressDownError(entry.address, entry.port, entry.since, entry.reason, entry.retryAt - performance.now(), entry.error!)
  }

  #down(entry: Entry, error: Error, reason: string): void {
    const wasUp = entry.state === 'up'
    if (wasUp) {
      entry.since = Date.now()
      entry.reason = reason
      entry.error = error
      entry.probes = 0
    } else {
      entry.probes++
    }
    entry.state = 'down'
    // Exponential, capped, with equal jitter ([½, 1] of the step): probes
    // from many processes that lost the same address do not line up.
    const step = Math.min(this.#rule.maxCoolDownMs, this.#rule.coolDownMs * 2 ** Math.min(entry.probes, 30))
    entry.coolDown = Math.round(step / 2 + Math.random() * (step / 2))
    entry.retryAt = performance.now() + entry.coolDown
    if (wasUp) this.#condemnConnecting(entry)
    if (channels.addressDown.hasSubscribers) {
      const message: AddressDownMessage = {
        address: entry.address, port: entry.port, reason: entry.reason, error: entry.error!, since: entry.since, coolDown: entry.coolDown,
      }
      channels.addressDown.publish(message)
    }
    if (debugEnabled()) {
      debug('address-down', `${formatEndpoint(entry.address, entry.port)} ${wasUp ? 'is down' : 'probe failed, still down'}: ` +
        `${reason}; next probe in ${entry.coolDown} ms`)
    }
  }

  /**
   * Connections still waiting for this address's SYN would each wait out a
   * user timeout: end them now with the verdict. Not those that have other
   * addresses to try (Node's happy eyeballs moves on by itself).
   */
  #condemnConnecting(entry: Entry): void {
    for (const [socket, attempt] of [...this.#connecting]) {
      if (attempt.address !== entry.address || attempt.port !== entry.port) continue
      const attempted = (socket as { autoSelectFamilyAttemptedAddresses?: unknown }).autoSelectFamilyAttemptedAddresses
      if (attempted === undefined && socket.connecting) socket.destroy(this.#error(entry))
    }
  }

  #evict(): void {
    for (const [key, e] of this.#entries) {
      if (e.state === 'up') {
        this.#entries.delete(key)
        return
      }
    }
    const first = this.#entries.keys().next().value
    if (first !== undefined) this.#entries.delete(first)
  }
}
