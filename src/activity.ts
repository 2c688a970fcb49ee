/**
 * The record of what the assistant did, for the people watching: recent tool calls with redacted arguments
 * and outcome, as a bounded list and a live stream. Fed by the MCP server's onToolCall.
 */
import { Subject, type Observable } from 'rxjs'
import { redactFields } from './log.js'
import type { ToolCallEvent } from './mcp/server.js'

/** One tool call as the status page shows it. */
export interface ToolCallRecord {
  readonly id: number
  readonly tool: string
  readonly started_at: string
  /** Arguments with secrets replaced by *** (passwords, keys, URL userinfo). */
  readonly args: unknown
  outcome: 'running' | 'ok' | 'error'
  duration_ms: number | null
  code: string | null
}

export interface ToolCallLog {
  /** Feed this to createMcpServer's onToolCall. */
  readonly record: (e: ToolCallEvent) => void
  /** The most recent calls, newest last (at most `capacity`). */
  readonly recent: (limit?: number) => readonly ToolCallRecord[]
  /** Each call when it starts and again when it finishes. */
  readonly changes$: Observable<ToolCallRecord>
  /** Counts since start: total, errors, per tool. */
  readonly counts: () => { total: number; errors: number; by_tool: Record<string, { calls: number; errors: number }> }
}

/** A tool call log keeping the last `capacity` calls (default 200). */
export function createToolCallLog(capacity = 200): ToolCallLog {
  const calls: ToolCallRecord[] = []
  const byId = new Map<number, ToolCallRecord>()
  const changes = new Subject<ToolCallRecord>()
  const byTool: Record<string, { calls: number; errors: number }> = {}
  let total = 0
  let errors = 0
  return {
    record: (e) => {
      if (e.type === 'started') {
        const rec: ToolCallRecord = { id: e.id, tool: e.tool, started_at: new Date(e.at).toISOString(), args: redactFields(e.args), outcome: 'running', duration_ms: null, code: null }
        calls.push(rec)
        byId.set(e.id, rec)
        if (calls.length > capacity) byId.delete(calls.shift()!.id)
        total++
        ;(byTool[e.tool] ??= { calls: 0, errors: 0 }).calls++
        changes.next(rec)
        return
      }
      const rec = byId.get(e.id)
      if (!e.ok) {
        errors++
        ;(byTool[e.tool] ??= { calls: 0, errors: 0 }).errors++
      }
      if (rec === undefined) return
      rec.outcome = e.ok ? 'ok' : 'error'
      rec.duration_ms = e.ms
      rec.code = e.code ?? null
      changes.next(rec)
    },
    recent: (limit = capacity) => calls.slice(-limit),
    changes$: changes,
    counts: () => ({ total, errors, by_tool: structuredClone(byTool) }),
  }
}
