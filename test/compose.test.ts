/** Docker does not run here: check the compose file's content against what the README promises. */
import { readFileSync } from 'node:fs'
import test from 'ava'
import { parse } from 'yaml'

const root = new URL('../../', import.meta.url)
const compose = parse(readFileSync(new URL('docker-compose.yml', root), 'utf8')) as {
  services: Record<string, Record<string, unknown>>
}
const readme = readFileSync(new URL('README.md', root), 'utf8')

test('the compose file runs Mosquitto and the server with the HTTP transport and a token', (t) => {
  t.deepEqual(Object.keys(compose.services).sort(), ['mosquitto', 'mqtt-mcp'])
  t.regex(String(compose.services['mosquitto']?.['image']), /^eclipse-mosquitto:2/)
  const mcp = compose.services['mqtt-mcp']!
  t.deepEqual(mcp['entrypoint'], ['node', 'dist/main.js'])
  const command = (mcp['command'] as string[]).join(' ')
  t.regex(command, /--transport http/)
  t.regex(command, /--http-host 0\.0\.0\.0/)
  t.regex(command, /--http-port 8091/)
  const env = mcp['environment'] as Record<string, string>
  t.is(env['MQTT_URL'], 'mqtt://mosquitto:1883')
  t.regex(env['MQTT_MCP_HTTP_TOKEN'] ?? '', /^\$\{MQTT_MCP_HTTP_TOKEN:\?/)
})

test('the compose limits, port and health check match the README', (t) => {
  const mcp = compose.services['mqtt-mcp']!
  const limits = (mcp['deploy'] as { resources: { limits: { memory: string; cpus: string } } }).resources.limits
  t.is(limits.memory, '256M')
  t.is(limits.cpus, '0.5')
  t.true(readme.includes('256 MB') && readme.includes('half a CPU'))
  t.deepEqual(mcp['ports'], ['127.0.0.1:8091:8091'])
  const health = mcp['healthcheck'] as { test: string[] }
  t.true(health.test.join(' ').includes('/health'))
  t.true(health.test.join(' ').includes('MQTT_MCP_HTTP_TOKEN'), 'the health check sends the token /health requires')
  t.true(readme.includes('docker compose up -d --build'))
})
