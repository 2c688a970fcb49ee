/** Tasmota switches and sensors: one MQTT connection each, since each carries its own `LWT` Last Will. */
import type { ConnectionSpec, DeviceContext, DeviceSpec } from '../device.js'
import { randomInt, randomWalk, round } from '../random.js'

type TasmotaSensor = 'energy' | 'ds18b20'

interface TasmotaDevice {
  readonly id: string
  readonly name: string
  readonly module: string
  readonly sensor: TasmotaSensor
  readonly powerOn: boolean
  /** Watts drawn when on (energy monitoring plugs). */
  readonly load?: number
}

const TASMOTA_DEVICES: readonly TasmotaDevice[] = [
  { id: 'tasmota_pool_pump', name: 'Pool pump', module: 'Sonoff Pow R2', sensor: 'energy', powerOn: true, load: 750 },
  { id: 'tasmota_heater', name: 'Patio heater', module: 'Gosund SP111', sensor: 'energy', powerOn: false, load: 1800 },
  { id: 'tasmota_fridge', name: 'Garage fridge', module: 'Athom Plug V2', sensor: 'energy', powerOn: true, load: 95 },
  { id: 'tasmota_freezer', name: 'Chest freezer', module: 'Sonoff TH', sensor: 'ds18b20', powerOn: true },
]

/** Tasmota's own telemetry period is 300 s; 10 s keeps the demo lively. */
const TELE_PERIOD_MS = 10_000

/** The Tasmota connections, one device each. */
export function tasmotaConnections(): ConnectionSpec[] {
  return TASMOTA_DEVICES.map((d) => ({
    clientId: `demo-${d.id}`,
    availability: { topic: `tele/${d.id}/LWT`, online: 'Online', offline: 'Offline' },
    devices: [tasmotaDevice(d)],
  }))
}

function tasmotaDevice(d: TasmotaDevice): DeviceSpec {
  const t = {
    lwt: `tele/${d.id}/LWT`,
    state: `tele/${d.id}/STATE`,
    sensor: `tele/${d.id}/SENSOR`,
    info: `tele/${d.id}/INFO1`,
    power: `stat/${d.id}/POWER`,
    result: `stat/${d.id}/RESULT`,
    cmndPower: `cmnd/${d.id}/POWER`,
  }
  return {
    info: { id: d.id, name: d.name, style: 'tasmota', topics: Object.values(t) },
    start(ctx) {
      let on = d.powerOn
      const rssi = randomWalk(ctx.random, { start: randomInt(ctx.random, 50, 90), step: 2, min: 20, max: 100 })
      const reading = sensorReading(d, ctx, () => on)
      const powerText = (): string => (on ? 'ON' : 'OFF')

      const info = { Info1: { Module: d.module, Version: '14.2.0(release-tasmota)', FallbackTopic: `cmnd/DVES_${d.id}_fb/`, GroupTopic: 'cmnd/tasmotas/' } }
      void ctx.publish(t.info, JSON.stringify(info))
      void ctx.publish(t.result, JSON.stringify({ POWER: powerText() }))
      void ctx.publish(t.power, powerText())

      ctx.every(
        TELE_PERIOD_MS,
        () => {
          const uptime = ctx.uptimeSeconds()
          const signal = Math.round(rssi())
          const state = {
            Time: tasmotaTime(),
            Uptime: tasmotaUptime(uptime),
            UptimeSec: uptime,
            Heap: 26,
            SleepMode: 'Dynamic',
            Sleep: 50,
            LoadAvg: 19,
            MqttCount: 1,
            POWER: powerText(),
            Wifi: { AP: 1, SSId: 'homenet', Channel: 6, Mode: '11n', RSSI: signal, Signal: Math.round(signal / 2 - 100), LinkCount: 1, Downtime: '0T00:00:03' },
          }
          void ctx.publish(t.state, JSON.stringify(state))
          void ctx.publish(t.sensor, JSON.stringify({ Time: tasmotaTime(), ...reading() }))
        },
        { jitter: 0.02, immediate: true },
      )

      // Tasmota listens on its whole command tree and answers everything it does not know with RESULT
      ctx.on(`cmnd/${d.id}/#`, (topic, payload) => {
        const command = topic.slice(`cmnd/${d.id}/`.length).toUpperCase()
        if (command !== 'POWER' && command !== 'POWER1') {
          void ctx.publish(t.result, JSON.stringify({ Command: 'Unknown' }))
          return
        }
        const next = powerCommand(payload.toString('utf8'), on)
        if (next === undefined) {
          void ctx.publish(t.result, JSON.stringify({ Command: 'Error' }))
          return
        }
        on = next
        void ctx.publish(t.result, JSON.stringify({ POWER: powerText() }))
        void ctx.publish(t.power, powerText())
      })
    },
  }
}

/** An empty payload asks for the current state; Tasmota also takes 0/1/2 and true/false. */
function powerCommand(text: string, current: boolean): boolean | undefined {
  switch (text.trim().toUpperCase()) {
    case '':
      return current
    case 'ON':
    case '1':
    case 'TRUE':
      return true
    case 'OFF':
    case '0':
    case 'FALSE':
      return false
    case 'TOGGLE':
    case '2':
      return !current
    default:
      return undefined
  }
}

function sensorReading(d: TasmotaDevice, ctx: DeviceContext, isOn: () => boolean): () => Record<string, unknown> {
  if (d.sensor === 'ds18b20') {
    const temp = randomWalk(ctx.random, { start: -18.5, step: 0.2, min: -24, max: -12 })
    return () => ({ DS18B20: { Id: '01144A6B2AAA', Temperature: round(temp(), 1) }, TempUnit: 'C' })
  }
  const load = d.load ?? 100
  const watts = randomWalk(ctx.random, { start: load, step: load * 0.03, min: load * 0.6, max: load * 1.3 })
  const mains = randomWalk(ctx.random, { start: 231, step: 0.7, min: 222, max: 240 })
  let total = round(100 + ctx.random() * 400, 3)
  return () => {
    const power = isOn() ? Math.round(watts()) : 0
    const voltage = Math.round(mains())
    total = round(total + (power * (TELE_PERIOD_MS / 1000)) / 3_600_000, 3)
    return {
      ENERGY: {
        TotalStartTime: '2024-03-01T09:12:44',
        Total: total,
        Yesterday: round(load * 0.012, 3),
        Today: round(load * 0.004, 3),
        Power: power,
        ApparentPower: Math.round(power * 1.05),
        ReactivePower: Math.round(power * 0.3),
        Factor: power === 0 ? 0 : 0.95,
        Voltage: voltage,
        Current: round(power / voltage, 3),
      },
    }
  }
}

/** Tasmota prints local time without a zone. */
const tasmotaTime = (): string => new Date().toISOString().slice(0, 19)

function tasmotaUptime(seconds: number): string {
  const days = Math.floor(seconds / 86_400)
  const rest = new Date((seconds % 86_400) * 1000).toISOString().slice(11, 19)
  return `${days}T${rest}`
}
