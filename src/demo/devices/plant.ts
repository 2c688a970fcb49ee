/** A small production plant: machines behind one edge gateway, fast JSON telemetry and plain numeric topics. */
import type { ConnectionSpec, DeviceContext, DeviceSpec } from '../device.js'
import { chance, randomWalk, round } from '../random.js'

const GATEWAY_STATUS = 'plant/gateway/status'

/** The plant's edge gateway connection; its Last Will marks the whole plant feed offline. */
export function plantConnection(): ConnectionSpec {
  return {
    clientId: 'demo-plant-gateway',
    availability: { topic: GATEWAY_STATUS, online: 'online', offline: 'offline' },
    devices: [gateway(), press('line1', 'press01', 'Press 01', 200, 1450), press('line1', 'press02', 'Press 02', 500, 980), conveyor(), oven(), robot(), compressor(), tank()],
  }
}

function device(id: string, name: string, topics: string[], start: (ctx: DeviceContext) => void): DeviceSpec {
  return { info: { id, name, style: 'plant', topics }, start }
}

function gateway(): DeviceSpec {
  const heartbeat = 'plant/gateway/heartbeat'
  return device('gateway', 'Plant edge gateway', [GATEWAY_STATUS, heartbeat], (ctx) => {
    let seq = 0
    ctx.every(5_000, () => void ctx.publish(heartbeat, JSON.stringify({ seq: ++seq, uptime_s: ctx.uptimeSeconds() })), {
      jitter: 0.01,
      immediate: true,
    })
  })
}

/** A press strokes every `samplesPerCycle` samples; pressure peaks mid-stroke. */
function press(line: string, id: string, name: string, periodMs: number, nominalRpm: number): DeviceSpec {
  const base = `plant/${line}/${id}`
  const t = { telemetry: `${base}/telemetry`, rpm: `${base}/rpm`, status: `${base}/status` }
  return device(id, name, Object.values(t), (ctx) => {
    const samplesPerCycle = 12
    const peak = randomWalk(ctx.random, { start: 180, step: 2, min: 150, max: 210 })
    const temp = randomWalk(ctx.random, { start: 64, step: 0.08, min: 40, max: 95 })
    const rpm = randomWalk(ctx.random, { start: nominalRpm, step: nominalRpm * 0.004, min: nominalRpm * 0.9, max: nominalRpm * 1.1 })
    let cycle = 10_000 + Math.floor(ctx.random() * 5000)
    let sample = 0
    void ctx.publish(t.status, 'running', { retain: true, qos: 1 })
    ctx.every(
      periodMs,
      () => {
        const phase = Math.sin((Math.PI * sample) / samplesPerCycle)
        const payload = { pressure_bar: round(4 + phase * peak(), 1), temp_c: round(temp(), 2), cycle }
        void ctx.publish(t.telemetry, JSON.stringify(payload))
        if (++sample >= samplesPerCycle) {
          sample = 0
          cycle += 1
        }
      },
      { jitter: 0.02 },
    )
    ctx.every(1_000, () => void ctx.publish(t.rpm, String(Math.round(rpm()))), { jitter: 0.02, immediate: true })
  })
}

function conveyor(): DeviceSpec {
  const base = 'plant/line1/conveyor01'
  const t = { speed: `${base}/speed_mps`, count: `${base}/count` }
  return device('conveyor01', 'Conveyor 01', Object.values(t), (ctx) => {
    const speed = randomWalk(ctx.random, { start: 0.82, step: 0.01, min: 0.6, max: 1 })
    let count = 48_213
    ctx.every(1_000, () => void ctx.publish(t.speed, round(speed(), 2).toFixed(2)), { jitter: 0.02, immediate: true })
    ctx.every(2_000, () => void ctx.publish(t.count, String((count += chance(ctx.random, 0.9) ? 1 : 2))), { jitter: 0.02 })
  })
}

function oven(): DeviceSpec {
  const base = 'plant/line2/oven01'
  const t = { temp: `${base}/temp_c`, setpoint: `${base}/setpoint_c` }
  return device('oven01', 'Curing oven 01', Object.values(t), (ctx) => {
    const temp = randomWalk(ctx.random, { start: 176, mean: 180, step: 0.6, min: 150, max: 210, pull: 0.1 })
    void ctx.publish(t.setpoint, '180', { retain: true, qos: 1 })
    ctx.every(5_000, () => void ctx.publish(t.temp, round(temp(), 1).toFixed(1)), { jitter: 0.02, immediate: true })
  })
}

function robot(): DeviceSpec {
  const state = 'plant/line2/robot01/state'
  return device('robot01', 'Handling robot 01', [state], (ctx) => {
    const cycleTime = randomWalk(ctx.random, { start: 14.2, step: 0.15, min: 12, max: 18 })
    const programs = ['PICK_A', 'PICK_B', 'PALLETIZE']
    let program = 0
    let parts = 3_120
    ctx.every(
      5_000,
      () => {
        if (chance(ctx.random, 0.1)) program = (program + 1) % programs.length
        parts += 1
        const payload = { mode: 'auto', program: programs[program], cycle_time_s: round(cycleTime(), 2), parts_done: parts }
        void ctx.publish(state, JSON.stringify(payload))
      },
      { jitter: 0.05, immediate: true },
    )
  })
}

function compressor(): DeviceSpec {
  const telemetry = 'plant/utilities/compressor01/telemetry'
  return device('compressor01', 'Air compressor 01', [telemetry], (ctx) => {
    const pressure = randomWalk(ctx.random, { start: 7.4, step: 0.05, min: 6, max: 8.5 })
    const power = randomWalk(ctx.random, { start: 18.5, step: 0.4, min: 10, max: 25 })
    let running = true
    ctx.every(
      2_000,
      () => {
        // load/unload: the compressor stops near the upper band and restarts near the lower one
        const p = pressure()
        if (running && p > 7.9) running = false
        else if (!running && p < 6.9) running = true
        const payload = { pressure_bar: round(p, 2), power_kw: running ? round(power(), 1) : 0.8, running }
        void ctx.publish(telemetry, JSON.stringify(payload))
      },
      { jitter: 0.02, immediate: true },
    )
  })
}

function tank(): DeviceSpec {
  const level = 'plant/utilities/tank01/level_pct'
  return device('tank01', 'Coolant tank 01', [level], (ctx) => {
    const pct = randomWalk(ctx.random, { start: 72, step: 0.4, min: 10, max: 98 })
    ctx.every(10_000, () => void ctx.publish(level, round(pct(), 1).toFixed(1), { retain: true }), { jitter: 0.02, immediate: true })
  })
}
