/** A Zigbee2MQTT bridge and its Zigbee devices, all behind the bridge's single MQTT connection. */
import { parseJsonObject, type ConnectionSpec, type DeviceContext, type DeviceSpec } from '../device.js'
import { chance, randomInt, randomWalk, round } from '../random.js'

const BASE = 'zigbee2mqtt'
const ONLINE = JSON.stringify({ state: 'online' })

type ZigbeeKind = 'climate' | 'motion' | 'contact' | 'plug' | 'light'

interface ZigbeeDevice {
  readonly name: string
  readonly label: string
  readonly kind: ZigbeeKind
  readonly ieee: string
  readonly model: string
  readonly vendor: string
  readonly description: string
  /** Room temperature the climate sensor hovers around. */
  readonly baseTemp?: number
  /** Watts a plug draws when on. */
  readonly load?: number
}

const ZIGBEE_DEVICES: readonly ZigbeeDevice[] = [
  climate('living_room_temp', 'Living room temperature', '0x00158d0001a2b301', 21.5),
  climate('bedroom_temp', 'Bedroom temperature', '0x00158d0001a2b302', 19.5),
  climate('kitchen_temp', 'Kitchen temperature', '0x00158d0001a2b303', 22.5),
  climate('bathroom_temp', 'Bathroom temperature', '0x00158d0001a2b304', 23),
  climate('outdoor_temp', 'Outdoor temperature', '0x00158d0001a2b305', 9),
  motion('hallway_motion', 'Hallway motion', '0x00158d0002c3d401'),
  motion('kitchen_motion', 'Kitchen motion', '0x00158d0002c3d402'),
  motion('garage_motion', 'Garage motion', '0x00158d0002c3d403'),
  {
    name: 'front_door_contact',
    label: 'Front door contact',
    kind: 'contact',
    ieee: '0x00158d0003e4f501',
    model: 'MCCGQ11LM',
    vendor: 'Aqara',
    description: 'Door and window sensor',
  },
  plug('tv_plug', 'TV plug', '0xa4c1380004f5a601', 85),
  plug('washing_machine_plug', 'Washing machine plug', '0xa4c1380004f5a602', 420),
  plug('coffee_plug', 'Coffee machine plug', '0xa4c1380004f5a603', 1150),
  {
    name: 'living_room_bulb',
    label: 'Living room bulb',
    kind: 'light',
    ieee: '0x0017880105b6c701',
    model: '9290012573A',
    vendor: 'Philips',
    description: 'Hue white and color ambiance E26/E27',
  },
]

function climate(name: string, label: string, ieee: string, baseTemp: number): ZigbeeDevice {
  const description = 'Temperature and humidity sensor'
  return { name, label, kind: 'climate', ieee, model: 'WSDCGQ11LM', vendor: 'Aqara', description, baseTemp }
}

function motion(name: string, label: string, ieee: string): ZigbeeDevice {
  const description = 'Human body movement and illuminance sensor'
  return { name, label, kind: 'motion', ieee, model: 'RTCGQ11LM', vendor: 'Aqara', description }
}

function plug(name: string, label: string, ieee: string, load: number): ZigbeeDevice {
  const description = 'Smart plug (with power monitoring)'
  return { name, label, kind: 'plug', ieee, model: 'TS011F_plug_1', vendor: 'Tuya', description, load }
}

const stateTopic = (d: ZigbeeDevice): string => `${BASE}/${d.name}`
const availabilityTopic = (d: ZigbeeDevice): string => `${BASE}/${d.name}/availability`
const setTopic = (d: ZigbeeDevice): string => `${BASE}/${d.name}/set`
const commandable = (d: ZigbeeDevice): boolean => d.kind === 'plug' || d.kind === 'light'

/** Every Zigbee2MQTT device, on one connection whose Last Will marks the bridge offline (as Zigbee2MQTT does). */
export function zigbee2mqttConnection(): ConnectionSpec {
  return {
    clientId: 'demo-zigbee2mqtt',
    availability: { topic: `${BASE}/bridge/state`, online: ONLINE, offline: JSON.stringify({ state: 'offline' }) },
    devices: [bridge(), ...ZIGBEE_DEVICES.map(zigbeeDevice)],
  }
}

function bridge(): DeviceSpec {
  return {
    info: {
      id: 'bridge',
      name: 'Zigbee2MQTT bridge',
      style: 'zigbee2mqtt',
      topics: [`${BASE}/bridge/state`, `${BASE}/bridge/info`, `${BASE}/bridge/devices`],
    },
    start(ctx) {
      const info = {
        version: '1.40.2',
        commit: 'a1b2c3d',
        coordinator: { ieee_address: '0x00124b0021b7e3f4', type: 'zStack3x0', meta: { revision: 20230507 } },
        network: { channel: 15, pan_id: 6754, extended_pan_id: '0xdddddddddddddddd' },
        log_level: 'info',
        permit_join: false,
      }
      void ctx.publish(`${BASE}/bridge/info`, JSON.stringify(info), { retain: true, qos: 1 })
      const devices = ZIGBEE_DEVICES.map((d) => ({
        ieee_address: d.ieee,
        friendly_name: d.name,
        type: d.kind === 'plug' || d.kind === 'light' ? 'Router' : 'EndDevice',
        supported: true,
        definition: { model: d.model, vendor: d.vendor, description: d.description },
      }))
      void ctx.publish(`${BASE}/bridge/devices`, JSON.stringify(devices), { retain: true, qos: 1 })
    },
  }
}

function zigbeeDevice(d: ZigbeeDevice): DeviceSpec {
  const topics = [stateTopic(d), availabilityTopic(d), ...(commandable(d) ? [setTopic(d)] : [])]
  return {
    info: { id: d.name, name: d.label, style: 'zigbee2mqtt', topics },
    start(ctx) {
      // Zigbee2MQTT keeps per-device availability retained so a fresh subscriber sees it at once
      void ctx.publish(availabilityTopic(d), ONLINE, { retain: true, qos: 1 })
      behaviours[d.kind](d, ctx)
    },
  }
}

/** Link quality and battery change slowly; every battery device reports them with its readings. */
function radio(ctx: DeviceContext): { linkquality: () => number; battery: () => number } {
  const lq = randomWalk(ctx.random, { start: randomInt(ctx.random, 60, 200), step: 6, min: 0, max: 255 })
  let battery = randomInt(ctx.random, 55, 100)
  return {
    linkquality: () => Math.round(lq()),
    battery: () => (battery = chance(ctx.random, 0.02) ? Math.max(1, battery - 1) : battery),
  }
}

const voltage = (battery: number): number => Math.round(2700 + battery * 5)

const behaviours: Record<ZigbeeKind, (d: ZigbeeDevice, ctx: DeviceContext) => void> = {
  climate(d, ctx) {
    const base = d.baseTemp ?? 21
    const temperature = randomWalk(ctx.random, { start: base, step: 0.15, min: base - 8, max: base + 8 })
    const humidity = randomWalk(ctx.random, { start: 45 + ctx.random() * 15, step: 0.6, min: 20, max: 95 })
    const pressure = randomWalk(ctx.random, { start: 1013, step: 0.3, min: 980, max: 1040 })
    const r = radio(ctx)
    ctx.every(
      30_000,
      () => {
        const battery = r.battery()
        const payload = {
          battery,
          humidity: round(humidity(), 1),
          linkquality: r.linkquality(),
          pressure: round(pressure(), 1),
          temperature: round(temperature(), 2),
          voltage: voltage(battery),
        }
        void ctx.publish(stateTopic(d), JSON.stringify(payload))
      },
      { jitter: 0.1, immediate: true },
    )
  },

  motion(d, ctx) {
    const r = radio(ctx)
    const lux = randomWalk(ctx.random, { start: 120, step: 15, min: 0, max: 800 })
    let occupancy = false
    let quiet = 0
    const report = (): void => {
      const battery = r.battery()
      const illuminance = Math.round(lux())
      const payload = { battery, illuminance, illuminance_lux: illuminance, linkquality: r.linkquality(), occupancy }
      void ctx.publish(stateTopic(d), JSON.stringify({ ...payload, voltage: voltage(battery) }))
    }
    report()
    // real sensors report on movement and once the occupancy timeout expires, with a check-in in between
    ctx.every(
      15_000,
      () => {
        const next = occupancy ? !chance(ctx.random, 0.6) : chance(ctx.random, 0.3)
        if (next !== occupancy || ++quiet >= 4) {
          occupancy = next
          quiet = 0
          report()
        }
      },
      { jitter: 0.3 },
    )
  },

  contact(d, ctx) {
    const r = radio(ctx)
    let contact = true
    let quiet = 0
    const report = (): void => {
      const battery = r.battery()
      const payload = { battery, contact, linkquality: r.linkquality(), voltage: voltage(battery) }
      void ctx.publish(stateTopic(d), JSON.stringify(payload))
    }
    report()
    ctx.every(
      20_000,
      () => {
        const flip = chance(ctx.random, contact ? 0.15 : 0.6)
        if (flip) contact = !contact
        if (flip || ++quiet >= 3) {
          quiet = 0
          report()
        }
      },
      { jitter: 0.3 },
    )
  },

  plug(d, ctx) {
    const load = d.load ?? 100
    const power = randomWalk(ctx.random, { start: load, step: load * 0.04, min: load * 0.5, max: load * 1.5 })
    const mains = randomWalk(ctx.random, { start: 230, step: 0.8, min: 220, max: 240 })
    const lq = randomWalk(ctx.random, { start: randomInt(ctx.random, 120, 230), step: 4, min: 0, max: 255 })
    let on = d.name !== 'coffee_plug'
    let energy = round(ctx.random() * 40 + 5, 2)
    const report = (): void => {
      const watts = on ? Math.round(power()) : 0
      const volts = round(mains(), 1)
      energy = round(energy + watts / 360_000, 2)
      const payload = {
        current: round(watts / volts, 2),
        energy,
        linkquality: Math.round(lq()),
        power: watts,
        state: on ? 'ON' : 'OFF',
        voltage: volts,
      }
      void ctx.publish(stateTopic(d), JSON.stringify(payload))
    }
    ctx.every(10_000, report, { jitter: 0.05, immediate: true })
    ctx.on(setTopic(d), (_topic, payload) => {
      const next = requestedState(payload, on)
      if (next === undefined) return
      on = next
      report()
    })
  },

  light(d, ctx) {
    const lq = randomWalk(ctx.random, { start: 190, step: 4, min: 0, max: 255 })
    let on = true
    let brightness = 180
    let colorTemp = 370
    const report = (): void => {
      const payload = {
        brightness,
        color_mode: 'color_temp',
        color_temp: colorTemp,
        linkquality: Math.round(lq()),
        state: on ? 'ON' : 'OFF',
      }
      void ctx.publish(stateTopic(d), JSON.stringify(payload))
    }
    ctx.every(30_000, report, { jitter: 0.05, immediate: true })
    ctx.on(setTopic(d), (_topic, payload) => {
      const json = parseJsonObject(payload)
      const next = requestedState(payload, on)
      if (next !== undefined) on = next
      if (typeof json?.['brightness'] === 'number') brightness = clamp(Math.round(json['brightness']), 0, 254)
      if (typeof json?.['color_temp'] === 'number') colorTemp = clamp(Math.round(json['color_temp']), 153, 500)
      report()
    })
  },
}

/** Zigbee2MQTT accepts `{"state":"ON"}` as well as a bare `ON` / `OFF` / `TOGGLE`. */
function requestedState(payload: Buffer, current: boolean): boolean | undefined {
  const json = parseJsonObject(payload)
  const raw = json === undefined ? payload.toString('utf8') : json['state']
  if (typeof raw !== 'string') return undefined
  switch (raw.trim().toUpperCase()) {
    case 'ON':
      return true
    case 'OFF':
      return false
    case 'TOGGLE':
      return !current
    default:
      return undefined
  }
}

const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v))
