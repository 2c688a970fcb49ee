/** Devices with home-grown topic layouts under `devices/<id>/…`: the odd ones a debugging session meets. */
import type { ConnectionSpec, DeviceContext, DeviceSpec } from '../device.js'
import { chance, randomInt, randomWalk, round } from '../random.js'

function device(id: string, name: string, topics: string[], start: (ctx: DeviceContext) => void): DeviceSpec {
  return { info: { id, name, style: 'generic', topics }, start }
}

/** The plain generic devices; they share a connection and publish their availability once, without a Will. */
export function genericDevices(): DeviceSpec[] {
  return [boiler(), camera(), energyMeter(), weatherStation()]
}

const GARAGE = 'devices/garage-door'

/**
 * The unreliable device: about once a minute its connection dies without DISCONNECT, so the broker publishes
 * its Last Will, and it comes back some seconds later. Its heartbeat shows the missed beats.
 */
export function garageDoorConnection(): ConnectionSpec {
  const t = { availability: `${GARAGE}/availability`, state: `${GARAGE}/state`, heartbeat: `${GARAGE}/heartbeat` }
  return {
    clientId: 'demo-garage-door',
    availability: { topic: t.availability, online: 'online', offline: 'offline' },
    flap: { onlineMs: 50_000, offlineMs: 10_000 },
    devices: [
      device('garage-door', 'Garage door controller', Object.values(t), (ctx) => {
        let open = false
        let seq = 0
        const report = (): void => {
          void ctx.publish(t.state, JSON.stringify({ door: open ? 'open' : 'closed', position: open ? 100 : 0 }), { retain: true })
        }
        report()
        ctx.every(5_000, () => void ctx.publish(t.heartbeat, JSON.stringify({ seq: ++seq, uptime_s: ctx.uptimeSeconds() })), {
          jitter: 0.01,
          immediate: true,
        })
        ctx.every(
          30_000,
          () => {
            if (chance(ctx.random, 0.3)) open = !open
            report()
          },
          { jitter: 0.1 },
        )
      }),
    ],
  }
}

interface BoilerStatus {
  readonly level: 'info' | 'warning' | 'error'
  readonly code: string
  readonly message: string
  readonly state: string
}

/** A scripted fault cycle so an error always turns up within a minute or two, as on a boiler with a bad igniter. */
const BOILER_SCRIPT: readonly BoilerStatus[] = [
  { level: 'info', code: 'I00', message: 'heating', state: 'heating' },
  { level: 'info', code: 'I00', message: 'heating', state: 'heating' },
  { level: 'info', code: 'I01', message: 'setpoint reached, modulating', state: 'heating' },
  { level: 'warning', code: 'W12', message: 'water pressure low (0.9 bar)', state: 'heating' },
  { level: 'error', code: 'E42', message: 'flame failure', state: 'lockout' },
  { level: 'info', code: 'I05', message: 'lockout reset, restarting burner', state: 'starting' },
  { level: 'info', code: 'I00', message: 'heating', state: 'heating' },
  { level: 'info', code: 'I00', message: 'heating', state: 'heating' },
]

const OCCASIONAL_WARNING: BoilerStatus = { level: 'warning', code: 'W07', message: 'flue temperature high', state: 'heating' }

function boiler(): DeviceSpec {
  const base = 'devices/boiler-7'
  const t = { status: `${base}/status`, telemetry: `${base}/telemetry`, availability: `${base}/availability` }
  return device('boiler-7', 'Gas boiler 7', Object.values(t), (ctx) => {
    const flow = randomWalk(ctx.random, { start: 62, step: 0.4, min: 30, max: 80 })
    const pressure = randomWalk(ctx.random, { start: 1.4, step: 0.02, min: 0.6, max: 2.2 })
    let tick = 0
    let current: BoilerStatus = BOILER_SCRIPT[0] ?? OCCASIONAL_WARNING
    void ctx.publish(t.availability, 'online', { retain: true, qos: 1 })
    ctx.every(
      10_000,
      () => {
        const scripted = BOILER_SCRIPT[tick++ % BOILER_SCRIPT.length] ?? OCCASIONAL_WARNING
        current = scripted.level === 'info' && chance(ctx.random, 0.1) ? OCCASIONAL_WARNING : scripted
        const payload = { ...current, ts: new Date().toISOString() }
        // retained, so whoever looks at the boiler sees its last complaint first
        void ctx.publish(t.status, JSON.stringify(payload), { retain: true })
      },
      { jitter: 0.05, immediate: true },
    )
    ctx.every(
      5_000,
      () => {
        const firing = current.state === 'heating'
        const flowTemp = firing ? flow() : flow() - 8
        const payload = {
          flow_temp_c: round(flowTemp, 1),
          return_temp_c: round(flowTemp - 12 - ctx.random() * 2, 1),
          pressure_bar: round(current.code === 'W12' ? 0.9 : pressure(), 2),
          burner: firing ? 'on' : 'off',
          modulation_pct: firing ? randomInt(ctx.random, 25, 90) : 0,
        }
        void ctx.publish(t.telemetry, JSON.stringify(payload))
      },
      { jitter: 0.05, immediate: true },
    )
  })
}

function camera(): DeviceSpec {
  const base = 'devices/camera-1'
  const t = { snapshot: `${base}/snapshot`, motion: `${base}/motion`, availability: `${base}/availability` }
  return device('camera-1', 'Driveway camera', Object.values(t), (ctx) => {
    void ctx.publish(t.availability, 'online', { retain: true, qos: 1 })
    ctx.every(30_000, () => void ctx.publish(t.snapshot, fakeJpeg(ctx.random)), { jitter: 0.05, immediate: true })
    ctx.every(
      12_000,
      () => {
        if (!chance(ctx.random, 0.35)) return
        const payload = { motion: true, score: round(0.5 + ctx.random() * 0.5, 2), zone: 'driveway' }
        void ctx.publish(t.motion, JSON.stringify(payload))
      },
      { jitter: 0.3 },
    )
  })
}

/**
 * A small blob shaped like a JPEG (SOI, JFIF APP0, noise, EOI). The leading 0xFF can never start valid UTF-8,
 * which is the point: it exercises binary payload handling.
 */
function fakeJpeg(random: () => number): Uint8Array {
  const head = [0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]
  const body = Array.from({ length: randomInt(random, 300, 900) }, () => Math.floor(random() * 256))
  return Uint8Array.from([...head, 0xff, 0xdb, ...body, 0xff, 0xd9])
}

function energyMeter(): DeviceSpec {
  const base = 'devices/energy-meter'
  const t = { power: `${base}/power_w`, total: `${base}/total_kwh`, availability: `${base}/availability` }
  return device('energy-meter', 'Main energy meter', Object.values(t), (ctx) => {
    const power = randomWalk(ctx.random, { start: 1240, step: 60, min: 150, max: 9000, pull: 0.02 })
    let total = 18_342.7
    void ctx.publish(t.availability, 'online', { retain: true, qos: 1 })
    ctx.every(
      2_000,
      () => {
        const watts = Math.round(power())
        total += (watts * 2) / 3_600_000
        void ctx.publish(t.power, String(watts))
      },
      { jitter: 0.01, immediate: true },
    )
    ctx.every(30_000, () => void ctx.publish(t.total, total.toFixed(3), { retain: true }), { jitter: 0.01, immediate: true })
  })
}

function weatherStation(): DeviceSpec {
  const telemetry = 'devices/weather-station/telemetry'
  return device('weather-station', 'Roof weather station', [telemetry], (ctx) => {
    const temp = randomWalk(ctx.random, { start: 9.5, step: 0.1, min: -10, max: 35 })
    const humidity = randomWalk(ctx.random, { start: 78, step: 0.5, min: 20, max: 100 })
    const wind = randomWalk(ctx.random, { start: 14, step: 1.5, min: 0, max: 80, pull: 0.1 })
    const dir = randomWalk(ctx.random, { start: 240, step: 8, min: 0, max: 359, pull: 0.02 })
    const pressure = randomWalk(ctx.random, { start: 1011, step: 0.2, min: 960, max: 1050 })
    ctx.every(
      15_000,
      () => {
        const payload = {
          temp_c: round(temp(), 1),
          humidity_pct: Math.round(humidity()),
          wind_kmh: round(wind(), 1),
          wind_dir_deg: Math.round(dir()),
          rain_mm_h: chance(ctx.random, 0.2) ? round(ctx.random() * 3, 1) : 0,
          pressure_hpa: round(pressure(), 1),
        }
        void ctx.publish(telemetry, JSON.stringify(payload))
      },
      { jitter: 0.05, immediate: true },
    )
  })
}
