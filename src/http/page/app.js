/*
 * bitsperity-mqtt-mcp status page. Plain browser JavaScript, no build step, no libraries.
 *
 * Everything shown here comes from MQTT brokers and AI tool calls and is untrusted: it is put into the page
 * with textContent / createTextNode / property assignment only, never parsed as HTML.
 */
/* global window, document, location, fetch, WebSocket, URL, URLSearchParams, ResizeObserver, requestAnimationFrame, getComputedStyle, setTimeout, clearTimeout, setInterval */
;(() => {
  'use strict'

  const MAX_ROWS = 500 // rows kept in the live feed
  const MAX_WAITING = 500 // samples buffered while paused (the oldest are dropped)
  const MAX_CALLS = 200 // tool calls listed
  const CHART_MS = 5 * 60 * 1000
  const TREE_REFRESH_MS = 3000
  const STATUS_REFRESH_MS = 10000
  const BACKOFF_MIN_MS = 1000
  const BACKOFF_MAX_MS = 10000
  const CLOSED_SESSION_KEEP_MS = 2 * 60 * 1000
  const CLOSED_TREE_TEXT = 'This session is closed; its last topics stay shown.'

  const token = new URLSearchParams(location.search).get('token')
  const byId = (id) => document.getElementById(id)
  const ui = {
    version: byId('version'),
    conn: byId('conn'),
    uptime: byId('uptime'),
    rateNow: byId('rate-now'),
    callsCount: byId('calls-count'),
    memory: byId('memory'),
    notice: byId('notice'),
    sessions: byId('sessions'),
    sessionsEmpty: byId('sessions-empty'),
    sessionsCount: byId('sessions-count'),
    topicsSection: byId('topics-section'),
    topicsSession: byId('topics-session'),
    topicsSummary: byId('topics-summary'),
    topicsTree: byId('topics-tree'),
    topicsClose: byId('topics-close'),
    calls: byId('calls'),
    callsEmpty: byId('calls-empty'),
    chart: byId('chart'),
    chartLegend: byId('chart-legend'),
    filterForm: byId('filter-form'),
    filter: byId('filter'),
    pause: byId('pause'),
    waiting: byId('waiting'),
    activeFilter: byId('active-filter'),
    filterNote: byId('filter-note'),
    feedBody: byId('feed-body'),
    feedEmpty: byId('feed-empty'),
  }

  // ---------------------------------------------------------------------------------------------------------
  // small helpers

  /** An element with an optional class and text (always set as text, never as HTML). */
  function el(tag, className, text) {
    const e = document.createElement(tag)
    if (className) e.className = className
    if (text !== undefined && text !== null) e.textContent = String(text)
    return e
  }

  const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 })
  const rateFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 })
  const fmtInt = (n) => (typeof n === 'number' && Number.isFinite(n) ? intFmt.format(n) : '–')
  const fmtRate = (n) => (typeof n === 'number' && Number.isFinite(n) ? rateFmt.format(n) : '–')
  const pad = (n, w = 2) => String(n).padStart(w, '0')

  function fmtClock(iso, millis) {
    const d = new Date(iso)
    if (Number.isNaN(d.getTime())) return '–'
    const s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
    return millis ? `${s}.${pad(d.getMilliseconds(), 3)}` : s
  }

  function fmtDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds))
    const d = Math.floor(s / 86400)
    const h = Math.floor((s % 86400) / 3600)
    const m = Math.floor((s % 3600) / 60)
    if (d > 0) return `${d}d ${h}h`
    if (h > 0) return `${h}h ${pad(m)}m`
    if (m > 0) return `${m}m ${pad(s % 60)}s`
    return `${s}s`
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number' || !Number.isFinite(ms)) return ''
    return ms < 1000 ? `${Math.round(ms)} ms` : `${rateFmt.format(ms / 1000)} s`
  }

  function fmtBytes(n) {
    if (typeof n !== 'number' || !Number.isFinite(n)) return '–'
    if (n < 1024) return `${n} B`
    if (n < 1024 * 1024) return `${rateFmt.format(n / 1024)} KB`
    return `${rateFmt.format(n / (1024 * 1024))} MB`
  }

  function fmtRelative(iso) {
    const t = Date.parse(iso)
    if (Number.isNaN(t)) return '–'
    const diff = Math.round((t - Date.now()) / 1000)
    return diff >= 0 ? `in ${fmtDuration(diff)}` : `${fmtDuration(-diff)} ago`
  }

  function protocolName(v) {
    if (v === 5) return 'MQTT 5'
    if (v === 4) return 'MQTT 3.1.1'
    if (v === 3) return 'MQTT 3.1'
    return '–'
  }

  const plural = (n, word) => `${fmtInt(n)} ${word}${n === 1 ? '' : 's'}`

  function clip(text, max) {
    const s = String(text)
    return s.length > max ? `${s.slice(0, max - 1)}…` : s
  }

  /** MQTT filter matching (3.1.1 / 5.0 §4.7): `+` one level, `#` the rest; wildcards at the start skip `$` topics. */
  function topicMatches(filter, topic) {
    if (filter === '#' || filter === '') return !topic.startsWith('$')
    const f = filter.split('/')
    const t = topic.split('/')
    if ((f[0] === '+' || f[0] === '#') && topic.startsWith('$')) return false
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true
      if (i >= t.length) return false
      if (f[i] !== '+' && f[i] !== t[i]) return false
    }
    return f.length === t.length
  }

  /** A readable reason why `filter` is not a valid MQTT topic filter, or null. */
  function filterProblem(filter) {
    if (filter.length > 65535) return 'is too long'
    if (filter.includes('\u0000')) return 'contains U+0000'
    const levels = filter.split('/')
    for (let i = 0; i < levels.length; i++) {
      const l = levels[i]
      if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '"#" must be a whole level and the last one'
      if (l.includes('+') && l !== '+') return '"+" must be a whole level'
    }
    return null
  }

  let noticeTimer
  function notice(text) {
    clearTimeout(noticeTimer)
    ui.notice.textContent = text
    ui.notice.hidden = false
    noticeTimer = setTimeout(() => {
      ui.notice.hidden = true
    }, 10000)
  }

  // ---------------------------------------------------------------------------------------------------------
  // HTTP API

  async function api(path) {
    const headers = token ? { Authorization: `Bearer ${token}` } : {}
    const res = await fetch(path, { headers, cache: 'no-store' })
    if (!res.ok) {
      const err = new Error(`${path}: HTTP ${res.status}`)
      err.status = res.status
      throw err
    }
    return res.json()
  }

  // ---------------------------------------------------------------------------------------------------------
  // header: version, uptime, counts

  let uptimeBase = null // { seconds, at }
  let maxSessions = null

  async function refreshStatus() {
    try {
      const s = await api('/api/status')
      if (s.version) ui.version.textContent = `v${s.version}`
      if (typeof s.uptime_seconds === 'number') uptimeBase = { seconds: s.uptime_seconds, at: Date.now() }
      if (s.tool_calls) {
        const errors = s.tool_calls.errors || 0
        ui.callsCount.textContent = `${plural(s.tool_calls.total, 'tool call')}${errors ? ` · ${fmtInt(errors)} failed` : ''}`
      }
      if (s.memory) ui.memory.textContent = `RSS ${fmtBytes(s.memory.rss_bytes)}`
      tickUptime()
    } catch {
      // the WebSocket state tells the story; keep the last figures
    }
  }

  async function refreshMaxSessions() {
    try {
      const r = await api('/api/sessions')
      if (typeof r.max_sessions === 'number') maxSessions = r.max_sessions
      if (Array.isArray(r.sessions) && !everLive) for (const s of r.sessions) upsertSession(s)
      updateSessionsCount()
    } catch {
      // optional
    }
  }

  let statusSoon
  /** One status refresh shortly after a burst of changes (tool-call counts in the header). */
  function refreshStatusSoon() {
    if (statusSoon !== undefined) return
    statusSoon = setTimeout(() => {
      statusSoon = undefined
      void refreshStatus()
    }, 500)
  }

  function tickUptime() {
    if (uptimeBase === null) return
    ui.uptime.textContent = fmtDuration(uptimeBase.seconds + (Date.now() - uptimeBase.at) / 1000)
  }

  // ---------------------------------------------------------------------------------------------------------
  // connection state

  let connState = 'connecting'
  let reconnectAt = 0

  function setConn(state) {
    connState = state
    ui.conn.dataset.state = state
    renderConn()
  }

  function renderConn() {
    let text
    if (connState === 'live') text = 'live'
    else if (connState === 'connecting') text = 'connecting…'
    else {
      const secs = Math.max(0, Math.ceil((reconnectAt - Date.now()) / 1000))
      text = secs > 0 ? `reconnecting in ${secs} s` : 'reconnecting…'
    }
    if (ui.conn.textContent !== text) ui.conn.textContent = text
  }

  // ---------------------------------------------------------------------------------------------------------
  // sessions

  /** id → { info, rate, node, fields, removeTimer } */
  const sessions = new Map()
  let selectedId = null

  function sessionLabel(info) {
    if (!info) return '?'
    return info.name || `unnamed ${String(info.session_id).slice(0, 8)}`
  }

  function buildSessionCard(id) {
    const li = el('li', 'session')
    const head = el('button', 'session-head')
    head.type = 'button'
    head.setAttribute('aria-pressed', 'false')
    head.setAttribute('aria-controls', 'topics-section')
    const name = el('span', 'session-name')
    const hint = el('span', 'session-hint', 'topics ›')
    const badge = el('span', 'badge')
    head.append(name, badge, hint)
    head.addEventListener('click', () => selectSession(selectedId === id ? null : id))

    const dl = el('dl', 'session-meta')
    const field = (label) => {
      const dt = el('dt', '', label)
      const dd = el('dd')
      dl.append(dt, dd)
      return { dt, dd }
    }
    const fields = {
      broker: field('Broker'),
      protocol: field('Protocol'),
      messages: field('Messages'),
      reconnects: field('Reconnects'),
      expires: field('Expires'),
      error: field('Last error'),
      subs: field('Subscriptions'),
    }
    fields.broker.dd.classList.add('mono')
    fields.messages.dd.classList.add('num')
    fields.error.dd.classList.add('err')
    li.append(head, dl)
    return { li, head, name, badge, fields }
  }

  function renderSession(entry) {
    const info = entry.info
    const n = entry.node
    n.li.dataset.state = info.state
    n.li.dataset.sessionId = info.session_id
    n.name.textContent = sessionLabel(info)
    n.head.title = `session ${info.session_id}`
    n.badge.textContent = info.state
    n.badge.dataset.state = info.state
    n.fields.broker.dd.textContent = info.broker || '–'
    n.fields.protocol.dd.textContent = `${protocolName(info.protocol_version)} · client ${info.client_id || '–'}`
    const rate = typeof entry.rate === 'number' ? ` · ${fmtRate(entry.rate)}/s` : ''
    n.fields.messages.dd.textContent = `${fmtInt(info.messages_received)} (${fmtBytes(info.bytes_received)})${rate}`
    n.fields.reconnects.dd.textContent = fmtInt(info.reconnects || 0)
    n.fields.expires.dd.textContent = info.state === 'closed' ? 'closed' : info.expires_at ? `${fmtRelative(info.expires_at)} if idle` : '–'
    const hasError = Boolean(info.last_error)
    n.fields.error.dt.hidden = !hasError
    n.fields.error.dd.hidden = !hasError
    n.fields.error.dd.textContent = hasError ? info.last_error : ''

    const subs = Array.isArray(info.subscriptions) ? info.subscriptions : []
    const subsKey = JSON.stringify(subs)
    if (entry.subsKey !== subsKey) {
      entry.subsKey = subsKey
      const dd = n.fields.subs.dd
      dd.replaceChildren()
      if (subs.length === 0) dd.append(el('span', 'muted', 'none'))
      else {
        const ul = el('ul', 'subs')
        for (const s of subs) {
          const li = el('li')
          li.append(el('code', '', s.filter))
          let text = ` QoS ${s.qos}`
          if (s.granted !== null && s.granted !== undefined && s.granted !== s.qos) text += ` (granted ${s.granted})`
          if (s.shared_by > 1) text += ` · ×${s.shared_by}`
          li.append(document.createTextNode(text))
          ul.append(li)
        }
        dd.append(ul)
      }
    }
    n.head.setAttribute('aria-pressed', String(selectedId === info.session_id))
  }

  function upsertSession(info) {
    if (!info || typeof info.session_id !== 'string') return
    const id = info.session_id
    let entry = sessions.get(id)
    if (!entry) {
      entry = { info, rate: null, node: buildSessionCard(id), subsKey: null, removeTimer: undefined }
      sessions.set(id, entry)
      insertSessionCard(entry)
    } else {
      entry.info = { ...entry.info, ...info }
    }
    clearTimeout(entry.removeTimer)
    if (entry.info.state === 'closed') {
      entry.removeTimer = setTimeout(() => removeSession(id), CLOSED_SESSION_KEEP_MS)
    }
    renderSession(entry)
    updateSessionsCount()
    if (selectedId === id) {
      ui.topicsSession.textContent = sessionLabel(entry.info)
      if (entry.info.state === 'closed') stopTree(CLOSED_TREE_TEXT)
    }
  }

  function insertSessionCard(entry) {
    // oldest first, in the order the server created them
    const created = Date.parse(entry.info.created_at) || 0
    for (const other of ui.sessions.children) {
      const o = sessions.get(other.dataset.sessionId)
      if (o && (Date.parse(o.info.created_at) || 0) > created) {
        ui.sessions.insertBefore(entry.node.li, other)
        return
      }
    }
    ui.sessions.append(entry.node.li)
  }

  function removeSession(id) {
    const entry = sessions.get(id)
    if (!entry) return
    clearTimeout(entry.removeTimer)
    if (selectedId === id) selectSession(null)
    entry.node.li.remove()
    sessions.delete(id)
    updateSessionsCount()
  }

  function updateSessionsCount() {
    let open = 0
    for (const e of sessions.values()) if (e.info.state !== 'closed') open++
    ui.sessionsEmpty.hidden = sessions.size > 0
    ui.sessionsCount.textContent = maxSessions !== null ? `${open} of ${maxSessions}` : sessions.size ? String(open) : ''
  }

  /** Replaces the session list with the server's (hello frame), keeping cards of sessions still there. */
  function resetSessions(list) {
    const seen = new Set()
    for (const s of list) {
      seen.add(s.session_id)
      upsertSession(s)
    }
    for (const id of [...sessions.keys()]) {
      if (!seen.has(id)) {
        const e = sessions.get(id)
        if (e && e.info.state !== 'closed') upsertSession({ ...e.info, state: 'closed' })
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // topic tree of the selected session

  let treeTimer
  let lastTreeKey = ''
  /** session id → Map(path → open) chosen by the user */
  const openPaths = new Map()

  function selectSession(id) {
    clearTimeout(treeTimer)
    selectedId = id
    lastTreeKey = ''
    for (const e of sessions.values()) e.node.head.setAttribute('aria-pressed', String(e.info.session_id === id))
    if (id === null) {
      ui.topicsSection.hidden = true
      ui.topicsTree.replaceChildren()
      return
    }
    const entry = sessions.get(id)
    ui.topicsSession.textContent = sessionLabel(entry && entry.info)
    ui.topicsSummary.textContent = 'loading…'
    ui.topicsTree.replaceChildren()
    ui.topicsSection.hidden = false
    void refreshTree()
  }

  /** Stops refreshing the tree of a session that has closed (the API no longer knows it). */
  function stopTree(text) {
    clearTimeout(treeTimer)
    treeTimer = undefined
    ui.topicsSummary.textContent = text
  }

  async function refreshTree() {
    clearTimeout(treeTimer)
    const id = selectedId
    if (id === null) return
    const known = sessions.get(id)
    if (known && known.info.state === 'closed') {
      stopTree(CLOSED_TREE_TEXT)
      return
    }
    if (!document.hidden) {
      try {
        const r = await api(`/api/sessions/${encodeURIComponent(id)}`)
        if (selectedId !== id) return
        if (r.session) upsertSession(r.session)
        if (selectedId !== id) return
        renderTree(id, r.topics)
        if (r.session && r.session.state === 'closed') stopTree(CLOSED_TREE_TEXT)
      } catch (e) {
        if (selectedId !== id) return
        if (e && e.status === 404) {
          stopTree('This session is gone.')
          return
        }
        ui.topicsSummary.textContent = `Could not load topics (${e && e.message ? e.message : 'error'}); retrying.`
      }
    }
    const now = sessions.get(id)
    if (selectedId === id && !(now && now.info.state === 'closed')) treeTimer = setTimeout(refreshTree, TREE_REFRESH_MS)
  }

  function renderTree(id, topics) {
    if (!topics || !Array.isArray(topics.tree)) {
      ui.topicsSummary.textContent = 'No topic data.'
      return
    }
    const notes = []
    if (topics.truncated) notes.push('topic limit reached: some topics not indexed')
    if (topics.folded) notes.push('some branches folded to fit')
    ui.topicsSummary.textContent =
      `${plural(topics.topic_count, 'topic')} · ${plural(topics.message_count, 'message')} · ${fmtInt(topics.retained_count)} retained` +
      (notes.length ? ` (${notes.join('; ')})` : '')

    const key = JSON.stringify(topics.tree)
    if (key === lastTreeKey) return
    lastTreeKey = key

    if (topics.tree.length === 0) {
      ui.topicsTree.replaceChildren(el('p', 'empty', 'No topics seen yet: this session receives messages only on what it subscribes to.'))
      return
    }
    // keep focus on the same node across the rebuild
    const active = document.activeElement
    const focusPath = active && ui.topicsTree.contains(active) && active.parentElement ? pathOf.get(active.parentElement) : undefined
    const scroll = ui.topicsTree.scrollTop

    let opens = openPaths.get(id)
    if (!opens) openPaths.set(id, (opens = new Map()))
    const small = topics.topic_count <= 40
    const focusTarget = { el: null }
    ui.topicsTree.replaceChildren(buildNodes(topics.tree, 0, opens, small, focusPath, focusTarget))
    ui.topicsTree.scrollTop = scroll
    if (focusTarget.el) focusTarget.el.focus()
  }

  /** details element → node path (kept out of the DOM) */
  const pathOf = new WeakMap()

  function buildNodes(nodes, depth, opens, small, focusPath, focusTarget) {
    const ul = el('ul')
    for (const n of nodes) {
      const li = el('li')
      const hasChildren = Array.isArray(n.children) && n.children.length > 0
      if (hasChildren) {
        const d = el('details')
        pathOf.set(d, n.path)
        const chosen = opens.get(n.path)
        d.open = chosen !== undefined ? chosen : depth === 0 || small
        const summary = el('summary')
        summary.append(nodeLine(n, true))
        d.append(summary, buildNodes(n.children, depth + 1, opens, small, focusPath, focusTarget))
        d.addEventListener('toggle', () => opens.set(n.path, d.open))
        if (focusPath !== undefined && focusPath === n.path) focusTarget.el = summary
        li.append(d)
      } else {
        li.className = 'leaf'
        li.append(nodeLine(n, false))
      }
      ul.append(li)
    }
    return ul
  }

  function nodeLine(n, branch) {
    const line = el('span', 'node-line')
    const blank = n.name === ''
    line.append(el('span', blank ? 'node-name blank' : 'node-name', blank ? '(empty level)' : n.name))
    const counts = branch ? `${plural(n.topics, 'topic')} · ${plural(n.messages, 'msg')}` : plural(n.messages, 'msg')
    line.append(el('span', 'node-counts', counts))
    if (n.retained > 0) {
      const r = el('span', 'badge badge-flag badge-retained', branch ? `R ${fmtInt(n.retained)}` : 'R')
      r.title = branch ? `${n.retained} retained topics` : 'retained'
      line.append(r)
    }
    if (n.folded) line.append(el('span', 'badge', 'folded'))
    if (n.kind) line.append(el('span', 'badge badge-flag', n.kind))
    if (n.sample !== undefined && n.sample !== null && n.sample !== '') {
      const s = el('code', 'node-sample', n.sample)
      s.title = n.sample
      line.append(s)
    }
    if (n.last_seen) {
      const t = el('span', 'node-counts', fmtClock(n.last_seen, false))
      t.title = `last message ${n.last_seen}`
      line.append(t)
    }
    return line
  }

  ui.topicsClose.addEventListener('click', () => {
    const id = selectedId
    selectSession(null)
    const entry = id && sessions.get(id)
    if (entry) entry.node.head.focus()
  })

  // ---------------------------------------------------------------------------------------------------------
  // tool calls

  /** id → { li, fields } */
  const calls = new Map()

  function upsertCall(c) {
    if (!c || c.id === undefined) return
    let entry = calls.get(c.id)
    if (!entry) {
      entry = buildCall()
      calls.set(c.id, entry)
      ui.calls.prepend(entry.li)
      while (ui.calls.children.length > MAX_CALLS) {
        const last = ui.calls.lastElementChild
        for (const [id, e] of calls) {
          if (e.li === last) {
            calls.delete(id)
            break
          }
        }
        last.remove()
      }
      ui.callsEmpty.hidden = true
    }
    renderCall(entry, c)
  }

  function buildCall() {
    const li = el('li', 'call')
    const head = el('div', 'call-head')
    const time = el('time', 'call-time')
    const tool = el('span', 'call-tool')
    const outcome = el('span', 'badge')
    const duration = el('span', 'call-duration num')
    head.append(time, tool, outcome, duration)
    const details = el('details', 'call-args')
    const summary = el('summary')
    const pre = el('pre')
    details.append(summary, pre)
    li.append(head, details)
    return { li, time, tool, outcome, duration, summary, pre, argsKey: null }
  }

  function renderCall(e, c) {
    e.li.dataset.outcome = c.outcome
    e.li.dataset.tool = c.tool
    e.time.textContent = fmtClock(c.started_at, false)
    e.time.dateTime = c.started_at || ''
    e.tool.textContent = c.tool
    e.outcome.dataset.outcome = c.outcome
    e.outcome.textContent = c.outcome === 'error' && c.code ? `error ${c.code}` : c.outcome
    e.duration.textContent = c.outcome === 'running' ? '' : fmtMs(c.duration_ms)
    const argsKey = JSON.stringify(c.args === undefined ? null : c.args)
    if (argsKey !== e.argsKey) {
      e.argsKey = argsKey
      e.summary.textContent = `args ${clip(argsKey, 90)}`
      e.pre.textContent = JSON.stringify(c.args === undefined ? null : c.args, null, 2)
    }
  }

  function resetCalls(list) {
    for (const c of list) upsertCall(c) // newest last: each is prepended, so the newest ends on top
  }

  // ---------------------------------------------------------------------------------------------------------
  // live message feed

  let paused = false
  let activeFilter = '#'
  let wantedFilter = null // what the user asked for; re-sent after a reconnect
  const pending = [] // samples received but not rendered yet (while paused, or until the next frame)
  let droppedWhilePaused = 0
  let flushScheduled = false
  const rowTopic = new WeakMap()

  function onSamples(samples) {
    for (const s of samples) {
      if (!s || typeof s.topic !== 'string') continue
      if (!topicMatches(activeFilter, s.topic)) continue
      pending.push(s)
    }
    const limit = paused ? MAX_WAITING : MAX_ROWS
    if (pending.length > limit) {
      const extra = pending.length - limit
      pending.splice(0, extra)
      if (paused) droppedWhilePaused += extra
    }
    if (paused) renderWaiting()
    else scheduleFlush()
  }

  function scheduleFlush() {
    if (flushScheduled) return
    flushScheduled = true
    requestAnimationFrame(flush)
  }

  function flush() {
    flushScheduled = false
    if (paused || pending.length === 0) return
    const frag = document.createDocumentFragment()
    for (let i = pending.length - 1; i >= 0; i--) frag.append(buildRow(pending[i]))
    pending.length = 0
    ui.feedBody.prepend(frag)
    trimRows()
    ui.feedEmpty.hidden = true
  }

  function trimRows() {
    const body = ui.feedBody
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1)
  }

  function buildRow(s) {
    const tr = el('tr', 'fresh')
    rowTopic.set(tr, s.topic)
    const time = el('td', 'm-time', fmtClock(s.received_at, true))
    time.title = String(s.received_at)
    const entry = sessions.get(s.session_id)
    const session = el('td', 'm-session', entry ? sessionLabel(entry.info) : String(s.session_id || '').slice(0, 8))
    const topic = el('td', 'm-topic', s.topic)
    topic.title = clip(s.topic, 2000)
    const payloadText = s.payload === undefined || s.payload === null ? '' : String(s.payload)
    const binary = s.encoding === 'binary' || s.encoding === 'base64'
    const payload = el('td', binary ? 'm-payload binary' : 'm-payload')
    if (s.encoding === 'base64') payload.textContent = `base64 ${payloadText}`
    else if (payloadText === '') payload.textContent = '(empty)'
    else payload.textContent = payloadText
    payload.title = `${clip(payloadText, 2000)}\n${fmtBytes(s.size_bytes)}, ${s.encoding || 'text'}`
    const flags = el('td', 'm-flags')
    if (s.retain) {
      const r = el('span', 'badge badge-flag badge-retained', 'R')
      r.title = 'retained'
      flags.append(r)
    }
    const q = el('span', 'badge badge-flag', `Q${s.qos === undefined ? '?' : s.qos}`)
    q.title = `QoS ${s.qos}`
    flags.append(q)
    tr.append(time, session, topic, payload, flags)
    return tr
  }

  function renderWaiting() {
    if (!paused) {
      ui.waiting.textContent = ''
      return
    }
    const n = pending.length + droppedWhilePaused
    ui.waiting.textContent = droppedWhilePaused > 0 ? `${fmtInt(n)} waiting (kept last ${fmtInt(pending.length)})` : `${fmtInt(n)} waiting`
  }

  function setPaused(p) {
    paused = p
    ui.pause.setAttribute('aria-pressed', String(p))
    ui.pause.textContent = p ? 'Resume' : 'Pause'
    if (!p) {
      droppedWhilePaused = 0
      if (pending.length > MAX_ROWS) pending.splice(0, pending.length - MAX_ROWS)
      scheduleFlush()
    }
    renderWaiting()
  }

  ui.pause.addEventListener('click', () => setPaused(!paused))

  function applyFilter(filter) {
    activeFilter = filter
    ui.activeFilter.textContent = filter
    ui.filterNote.textContent = ''
    // drop what the new filter excludes, shown or waiting
    for (let i = pending.length - 1; i >= 0; i--) if (!topicMatches(filter, pending[i].topic)) pending.splice(i, 1)
    const rows = ui.feedBody.rows
    for (let i = rows.length - 1; i >= 0; i--) {
      const t = rowTopic.get(rows[i])
      if (t === undefined || !topicMatches(filter, t)) rows[i].remove()
    }
    ui.feedEmpty.hidden = rows.length > 0
    renderWaiting()
  }

  ui.filterForm.addEventListener('submit', (ev) => {
    ev.preventDefault()
    const filter = ui.filter.value.trim() || '#'
    const problem = filterProblem(filter)
    if (problem) {
      ui.filterNote.replaceChildren(el('span', 'err', ` — not applied: ${problem}`))
      return
    }
    wantedFilter = filter
    if (send({ type: 'filter', filter })) ui.filterNote.textContent = ` — applying ${filter}…`
    else ui.filterNote.textContent = ` — ${filter} will apply once connected`
  })

  // ---------------------------------------------------------------------------------------------------------
  // message-rate chart (canvas, drawn by hand)

  const series = [] // { t: client ms, v: messages per second }
  let chartQueued = false

  function addRate(v) {
    const now = Date.now()
    series.push({ t: now, v: typeof v === 'number' && Number.isFinite(v) ? Math.max(0, v) : 0 })
    while (series.length > 0 && series[0].t < now - CHART_MS - 2000) series.shift()
    queueChart()
  }

  function queueChart() {
    if (chartQueued) return
    chartQueued = true
    requestAnimationFrame(() => {
      chartQueued = false
      drawChart()
    })
  }

  /** The smallest of 1, 2, 5 × 10^n at or above v. */
  function niceCeil(v) {
    if (v <= 1) return 1
    const p = 10 ** Math.floor(Math.log10(v))
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p
    return 10 * p
  }

  function drawChart() {
    const canvas = ui.chart
    const box = canvas.parentElement
    const w = box.clientWidth
    const h = box.clientHeight
    if (w === 0 || h === 0) return
    const dpr = window.devicePixelRatio || 1
    const pw = Math.round(w * dpr)
    const ph = Math.round(h * dpr)
    if (canvas.width !== pw || canvas.height !== ph) {
      canvas.width = pw
      canvas.height = ph
    }
    const ctx = canvas.getContext('2d')
    if (!ctx) return
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
    ctx.clearRect(0, 0, w, h)

    const css = getComputedStyle(document.documentElement)
    const color = (name) => css.getPropertyValue(name).trim()
    const left = 44
    const right = 8
    const top = 8
    const bottom = 20
    const plotW = Math.max(1, w - left - right)
    const plotH = Math.max(1, h - top - bottom)
    const now = Date.now()
    const start = now - CHART_MS

    let peak = 0
    let sum = 0
    let count = 0
    for (const p of series) {
      if (p.t < start) continue
      peak = Math.max(peak, p.v)
      sum += p.v
      count++
    }
    const yMax = niceCeil(peak * 1.1)
    const x = (t) => left + ((t - start) / CHART_MS) * plotW
    const y = (v) => top + plotH - (v / yMax) * plotH

    // grid and labels
    ctx.font = `11px ${color('--sans') || 'sans-serif'}`
    ctx.lineWidth = 1
    ctx.strokeStyle = color('--chart-grid')
    ctx.fillStyle = color('--muted')
    ctx.textAlign = 'right'
    ctx.textBaseline = 'middle'
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4
      const yy = Math.round(y(v)) + 0.5
      ctx.beginPath()
      ctx.moveTo(left, yy)
      ctx.lineTo(left + plotW, yy)
      ctx.stroke()
      ctx.fillText(rateFmt.format(v), left - 6, yy)
    }
    ctx.textAlign = 'center'
    ctx.textBaseline = 'top'
    for (let m = 5; m >= 0; m--) {
      const xx = Math.round(x(now - m * 60000)) + 0.5
      ctx.beginPath()
      ctx.moveTo(xx, top)
      ctx.lineTo(xx, top + plotH)
      ctx.stroke()
      const label = m === 0 ? 'now' : `−${m} min`
      ctx.textAlign = m === 5 ? 'left' : m === 0 ? 'right' : 'center'
      ctx.fillText(label, xx, top + plotH + 5)
    }

    // the series, broken where a stats frame is missing (disconnected)
    const runs = []
    let run = []
    let prev = null
    for (const p of series) {
      if (p.t < start - 1000) continue
      if (prev !== null && p.t - prev.t > 3500) {
        runs.push(run)
        run = []
      }
      run.push(p)
      prev = p
    }
    if (run.length) runs.push(run)

    ctx.save()
    ctx.beginPath()
    ctx.rect(left, top, plotW, plotH + 1)
    ctx.clip()
    for (const r of runs) {
      if (r.length === 0) continue
      ctx.beginPath()
      ctx.moveTo(x(r[0].t), y(0))
      for (const p of r) ctx.lineTo(x(p.t), y(p.v))
      ctx.lineTo(x(r[r.length - 1].t), y(0))
      ctx.closePath()
      ctx.fillStyle = color('--chart-fill')
      ctx.fill()
      ctx.beginPath()
      r.forEach((p, i) => (i === 0 ? ctx.moveTo(x(p.t), y(p.v)) : ctx.lineTo(x(p.t), y(p.v))))
      ctx.strokeStyle = color('--chart-line')
      ctx.lineWidth = 1.75
      ctx.lineJoin = 'round'
      ctx.stroke()
    }
    ctx.restore()

    const last = series.length ? series[series.length - 1].v : null
    const avg = count ? sum / count : null
    const legend = last === null ? 'no data yet' : `now ${fmtRate(last)}/s · peak ${fmtRate(peak)}/s · avg ${fmtRate(avg)}/s`
    if (ui.chartLegend.textContent !== legend) ui.chartLegend.textContent = legend
    canvas.setAttribute('aria-label', `Messages per second over the last 5 minutes: ${legend}`)
  }

  new ResizeObserver(() => queueChart()).observe(ui.chart.parentElement)
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => queueChart())

  // ---------------------------------------------------------------------------------------------------------
  // WebSocket with reconnect (1 s doubling to 10 s)

  let ws = null
  let backoff = BACKOFF_MIN_MS
  let reconnectTimer
  let everLive = false

  function wsUrl() {
    const u = new URL('/ws', location.href)
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:'
    u.search = ''
    u.hash = ''
    if (token) u.searchParams.set('token', token)
    return u.toString()
  }

  function send(frame) {
    if (ws === null || ws.readyState !== WebSocket.OPEN) return false
    ws.send(JSON.stringify(frame))
    return true
  }

  function connect() {
    clearTimeout(reconnectTimer)
    setConn(everLive ? 'reconnecting' : 'connecting')
    let sock
    try {
      sock = new WebSocket(wsUrl())
    } catch {
      scheduleReconnect()
      return
    }
    ws = sock
    sock.addEventListener('message', (ev) => {
      if (ws !== sock || typeof ev.data !== 'string') return
      let frame
      try {
        frame = JSON.parse(ev.data)
      } catch {
        return
      }
      if (frame && typeof frame === 'object') handleFrame(frame)
    })
    sock.addEventListener('close', () => {
      if (ws !== sock) return
      ws = null
      scheduleReconnect()
    })
  }

  function scheduleReconnect() {
    const delay = backoff
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS)
    reconnectAt = Date.now() + delay
    setConn('reconnecting')
    reconnectTimer = setTimeout(connect, delay)
  }

  function handleFrame(f) {
    switch (f.type) {
      case 'hello':
        backoff = BACKOFF_MIN_MS
        everLive = true
        setConn('live')
        if (f.version) ui.version.textContent = `v${f.version}`
        if (Array.isArray(f.sessions)) resetSessions(f.sessions)
        if (Array.isArray(f.calls)) resetCalls(f.calls)
        if (typeof f.filter === 'string') applyFilter(f.filter)
        if (wantedFilter !== null && wantedFilter !== f.filter) send({ type: 'filter', filter: wantedFilter })
        void refreshStatus()
        break
      case 'session':
        if (f.session) upsertSession(f.event === 'closed' ? { ...f.session, state: 'closed' } : f.session)
        break
      case 'tool_call':
        upsertCall(f.call)
        refreshStatusSoon()
        break
      case 'messages':
        if (Array.isArray(f.samples)) onSamples(f.samples)
        break
      case 'stats':
        addRate(f.total_per_second)
        ui.rateNow.textContent = fmtRate(f.total_per_second)
        if (Array.isArray(f.sessions)) {
          for (const s of f.sessions) {
            const entry = sessions.get(s.session_id)
            if (!entry) continue
            entry.rate = s.messages_per_second
            if (typeof s.messages_received === 'number') entry.info = { ...entry.info, messages_received: s.messages_received }
            if (typeof s.state === 'string') entry.info = { ...entry.info, state: s.state }
            renderSession(entry)
          }
        }
        break
      case 'filter':
        if (typeof f.filter === 'string') applyFilter(f.filter)
        break
      case 'error':
        notice(`Server: ${typeof f.message === 'string' ? f.message : 'error'}`)
        if (wantedFilter !== null && wantedFilter !== activeFilter) {
          ui.filterNote.replaceChildren(el('span', 'err', ` — ${wantedFilter} not applied`))
          wantedFilter = null
        }
        break
      default:
        break
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // start

  setInterval(() => {
    tickUptime()
    if (connState === 'reconnecting') renderConn()
    queueChart() // keeps the time axis moving, and shows gaps while disconnected
  }, 1000)
  setInterval(() => void refreshStatus(), STATUS_REFRESH_MS)
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && selectedId !== null) void refreshTree()
    if (!document.hidden && !paused) scheduleFlush()
  })

  void refreshStatus()
  void refreshMaxSessions()
  connect()
})()
