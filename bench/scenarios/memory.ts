/**
 * memory: the server's RSS when idle (1 s after initialize), after a first session, then per session for 10
 * (quick: 5) more, all opened with mqtt_establish_connection on the bench broker.
 */
import type { Scenario } from '../scenario.js'
import { MB } from '../server.js'
import { round } from '../stats.js'

export const memory: Scenario = {
  name: 'memory',
  what: 'idle RSS after start; RSS per open session (mqtt_establish_connection)',
  run: async (ctx) => {
    const n = ctx.sizes.sessions
    const server = await ctx.startServer()
    try {
      await ctx.pause(1000)
      const idle = server.rssBytes()
      // the first session also loads what connecting needs (mqtt.js's connect path, TLS, …): counted apart
      await server.openSession(ctx.broker.url, 'memory-first')
      await ctx.pause(1000)
      const withFirst = server.rssBytes()
      for (let i = 0; i < n; i++) await server.openSession(ctx.broker.url, `memory-${i}`)
      await ctx.pause(1000)
      const withSessions = server.rssBytes()
      const perSession = (withSessions - withFirst) / n / MB
      return {
        figures: [
          { label: 'idle RSS', value: round(idle / MB, 1), unit: 'MB', target: '≤ 80 MB', met: idle / MB <= 80 },
          { label: 'RSS added by the first session', value: round((withFirst - idle) / MB, 2), unit: 'MB' },
          { label: `RSS per further session (${n} sessions)`, value: round(perSession, 2), unit: 'MB', target: '≤ 5 MB', met: perSession <= 5 },
        ],
        details: { sessions: n + 1, idleRssMB: round(idle / MB, 1), withFirstSessionRssMB: round(withFirst / MB, 1), withSessionsRssMB: round(withSessions / MB, 1) },
      }
    } finally {
      await server.close()
    }
  },
}
