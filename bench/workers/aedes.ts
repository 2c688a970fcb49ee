/** Worker: aedes (MQTT 3.1.1) on 127.0.0.1 and a free port, in a process of its own like Mosquitto. */
import { createServer } from 'node:net'
import { Aedes } from 'aedes'

process.on('disconnect', () => process.exit(0))

const aedes = await Aedes.createBroker()
const server = createServer(aedes.handle)
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.send?.({ type: 'listening', port: typeof address === 'object' && address !== null ? address.port : 0 })
})
