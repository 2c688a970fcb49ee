/**
 * The MCP server's tools/list: one answer built at start and reused, and on stdio sent as pre-serialised bytes
 * that are exactly what the SDK would have written.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import { LATEST_PROTOCOL_VERSION, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js'
import test from 'ava'
import { PassThrough } from 'node:stream'
import { createApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { silentLogger } from '../../src/log.js'
import { toolList } from '../../src/mcp/server.js'
import { tools } from '../../src/tools/index.js'

function newApp(): ReturnType<typeof createApp> {
  const loaded = loadConfig([], {})
  if (loaded._tag === 'Left') throw new Error(loaded.left)
  return createApp({ config: loaded.right as Config, logger: silentLogger })
}

const initialize = (id: number): JSONRPCMessage => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'test', version: '1' } },
})

/** Replies to `requests` in order, as raw objects (an in-memory pair passes them through unserialised). */
async function rawReplies(requests: JSONRPCMessage[]): Promise<Array<JSONRPCMessage & { result?: unknown }>> {
  const app = newApp()
  const server = app.mcpServer()
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  const replies: Array<JSONRPCMessage & { result?: unknown }> = []
  const expected = requests.filter((r) => 'id' in r).length
  const done = new Promise<void>((resolve) => {
    clientSide.onmessage = (m) => {
      if ('id' in m) replies.push(m)
      if (replies.length === expected) resolve()
    }
  })
  await server.connect(serverSide)
  await clientSide.start()
  for (const r of requests) await clientSide.send(r)
  await done
  await server.close()
  await app.close()
  return replies
}

test('tools/list answers every call, on every server, with the one answer built for the tool set', async (t) => {
  const replies = await rawReplies([initialize(1), { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} }])
  const [, first, second] = replies
  t.truthy(first?.result)
  t.is(first?.result, second?.result)
  t.is(first?.result, toolList(tools).result)
  // a second server (as each HTTP session gets) shares it too
  const [, third] = await rawReplies([initialize(1), { jsonrpc: '2.0', id: 2, method: 'tools/list' }])
  t.is(third?.result, first?.result)
})

test('the tools/list answer lists every tool with its schemas and cannot be changed by whoever holds it', (t) => {
  const { result, json } = toolList(tools)
  t.deepEqual(
    result.tools.map((x) => x.name),
    tools.map((x) => x.name),
  )
  for (const [i, tool] of tools.entries()) {
    t.deepEqual(result.tools[i]?.inputSchema, tool.inputSchema)
    t.deepEqual(result.tools[i]?.outputSchema, tool.outputSchema)
    // a copy: the tool's own schema objects are not frozen along with the answer
    t.not(result.tools[i]?.inputSchema, tool.inputSchema)
  }
  t.true(Object.isFrozen(result) && Object.isFrozen(result.tools[0]?.inputSchema.properties))
  t.throws(() => {
    ;(result.tools as unknown[]).push({})
  })
  t.is(json.toString('utf8'), JSON.stringify(result))
})

/** Runs a server on a StdioServerTransport over in-process streams; returns its stdout lines for `lines`. */
async function overStdio(lines: JSONRPCMessage[], replies: number): Promise<string[]> {
  const app = newApp()
  const server = app.mcpServer()
  const stdin = new PassThrough()
  const stdout = new PassThrough()
  await server.connect(new StdioServerTransport(stdin, stdout))
  let text = ''
  const out = new Promise<string[]>((resolve) => {
    stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      const complete = text.split('\n').slice(0, -1)
      if (complete.length >= replies) resolve(complete)
    })
  })
  for (const line of lines) stdin.write(JSON.stringify(line) + '\n')
  const got = await out
  await server.close()
  await app.close()
  return got
}

test.serial('tools/list on stdio is written from the cached bytes, exactly the frame the SDK would write', async (t) => {
  const listed = toolList(tools)
  // the SDK's stdio transport serialises with JSON.stringify(message): it must not see the tool list any more
  const stringify = JSON.stringify
  let serialisedList = 0
  JSON.stringify = ((value: unknown, ...rest: never[]) => {
    if (typeof value === 'object' && value !== null && (value as { result?: { tools?: unknown } }).result?.tools !== undefined) serialisedList++
    return stringify(value, ...rest)
  }) as typeof JSON.stringify
  let lines: string[]
  try {
    lines = await overStdio(
      [
        initialize(1),
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 'list-"3"', method: 'tools/list' },
        { jsonrpc: '2.0', id: 4, method: 'ping' },
      ],
      4,
    )
  } finally {
    JSON.stringify = stringify
  }
  t.is(serialisedList, 0)
  t.is(lines[1], JSON.stringify({ result: listed.result, jsonrpc: '2.0', id: 2 }))
  t.is(lines[2], JSON.stringify({ result: listed.result, jsonrpc: '2.0', id: 'list-"3"' }))
  // everything else still goes through the SDK
  t.deepEqual(JSON.parse(lines[3] ?? ''), { result: {}, jsonrpc: '2.0', id: 4 })
  t.like(JSON.parse(lines[0] ?? ''), { jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'bitsperity-mqtt-mcp' } } })
})
