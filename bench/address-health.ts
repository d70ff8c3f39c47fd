// Issue 18's headline case at full size, too slow for CI: N requests (default
// 10 000) queued on a single-address origin whose path is cut, through one
// StallGuardAgent (256 connections, user timeout 3 s), with address health on
// and off. Prints when the last request failed, measured from the cut.
// Run as root or not: `unshare -rn npx tsx bench/address-health.ts [N]`.
import { execFileSync } from 'node:child_process'
import http from 'node:http'
import { performance } from 'node:perf_hooks'
import { request } from 'undici'
import { StallGuardAgent } from '../lib/index'

const N = Number(process.argv[2] ?? 10_000)
const ADDRESS = '127.0.0.5'
const TCP = { userTimeout: 3000, keepAliveIdle: 1000, keepAliveInterval: 1000, keepAliveCount: 1 }

const nft = (script: string): void => { execFileSync('nft', ['-f', '-'], { input: script }) }

async function run(port: number, addressHealth: boolean): Promise<{ failed: number; lastMs: number }> {
  const agent = new StallGuardAgent({ connections: 256, tcp: TCP, addressHealth })
  const origin = `http://${ADDRESS}:${port}`
  await Promise.all(Array.from({ length: 256 }, () => request(`${origin}/warm`, { dispatcher: agent }).then((r) => r.body.text())))
  let failed = 0
  let last = 0
  const all = Array.from({ length: N }, (_, i) => request(`${origin}/${i}`, { dispatcher: agent })
    .then((r) => r.body.text(), () => { failed++; last = performance.now() }))
  await new Promise((resolve) => setTimeout(resolve, 100))
  nft(`add table inet bench\nflush table inet bench\nadd chain inet bench in { type filter hook input priority 0 ; policy accept ; }\n` +
    `add rule inet bench in ip daddr ${ADDRESS} tcp dport ${port} drop\nadd rule inet bench in ip saddr ${ADDRESS} tcp sport ${port} drop\n`)
  const cut = performance.now()
  await Promise.all(all)
  nft('flush table inet bench\n')
  await agent.destroy()
  return { failed, lastMs: Math.round(last - cut) }
}

async function main(): Promise<void> {
  execFileSync('ip', ['link', 'set', 'lo', 'up'])
  const server = http.createServer((_req, res) => { setTimeout(() => res.end('ok'), 400) })
  await new Promise<void>((resolve) => server.listen(0, ADDRESS, resolve))
  const { port } = server.address() as { port: number }
  for (const health of [true, false]) {
    const { failed, lastMs } = await run(port, health)
    console.log(`addressHealth ${health ? 'on ' : 'off'}: ${failed}/${N} failed, the last ${lastMs} ms after the cut (user timeout 3000 ms)`)
    server.closeAllConnections()
  }
  server.close()
}

void main()
