// One contender on one scenario, for profiling a regression the table shows:
//   node --cpu-prof --import tsx bench/profile.ts StallGuardAgent /small 16
// Prints the rate; with --cpu-prof, Node writes a .cpuprofile to open in
// Chrome DevTools or any profile viewer.
import { fork } from 'node:child_process'
import { join } from 'node:path'
import { byName } from './contenders'
import { drive } from './load'

const [name = 'StallGuardAgent', path = '/small', connections = '16', seconds = '4'] = process.argv.slice(2)
const server = fork(join(__dirname, 'server.ts'), [], { execArgv: ['--import', 'tsx'] })
server.once('message', async ({ port }: { port: number }) => {
  const client = byName(name).make(Number(connections))
  const send = client.send({ port, path })
  await drive(send, Number(connections), 1000)
  const slice = await drive(send, Number(connections), Number(seconds) * 1000)
  console.log(`${name} ${path} ${connections} conn: ${Math.round(slice.requests / slice.seconds)} req/s`)
  await client.close()
  server.kill()
})
