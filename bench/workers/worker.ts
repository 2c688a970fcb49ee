/**
 * The IPC side of a worker: waits for one `run` message, answers with what `handle` returns (or `failed`), and
 * exits when the bench goes away (the IPC channel closes).
 */
export function runWorker<M extends { type: 'run' }>(handle: (m: M) => Promise<object>): void {
  process.on('disconnect', () => process.exit(0))
  process.on('message', (m: { type?: string }) => {
    if (m.type !== 'run') return
    handle(m as M).then(
      (answer) => process.send?.(answer),
      (e: unknown) => process.send?.({ type: 'failed', error: e instanceof Error ? e.message : String(e) }),
    )
  })
}
