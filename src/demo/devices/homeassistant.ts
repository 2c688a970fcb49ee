/** Devices that announce themselves through Home Assistant MQTT discovery (retained configs, JSON state). */
import type { DeviceSpec } from '../device.js'
import { randomWalk, round, type WalkOptions } from '../random.js'

interface HaSensor {
  readonly key: string
  readonly name: string
  readonly unit?: string
  readonly deviceClass?: string
  readonly walk: WalkOptions
  readonly digits: number
}

interface HaDevice {
  readonly id: string
  readonly name: string
  readonly manufacturer: string
  readonly model: string
  readonly periodMs: number
  readonly sensors: readonly HaSensor[]
}

const sensor = (key: string, name: string, unit: string | undefined, deviceClass: string | undefined, walk: WalkOptions, digits = 1): HaSensor => ({
  key,
  name,
  ...(unit === undefined ? {} : { unit }),
  ...(deviceClass === undefined ? {} : { deviceClass }),
  walk,
  digits,
})

const HA_DEVICES: readonly HaDevice[] = [
  {
    id: 'esp_office',
    name: 'Office climate',
    manufacturer: 'Espressif',
    model: 'ESP32 + SCD40',
    periodMs: 15_000,
    sensors: [
      sensor('temperature', 'Temperature', '°C', 'temperature', { start: 22.4, step: 0.1, min: 16, max: 30 }),
      sensor('humidity', 'Humidity', '%', 'humidity', { start: 41, step: 0.5, min: 20, max: 80 }),
      sensor('co2', 'CO2', 'ppm', 'carbon_dioxide', { start: 780, step: 25, min: 400, max: 2500 }, 0),
    ],
  },
  {
    id: 'esp_greenhouse',
    name: 'Greenhouse',
    manufacturer: 'Espressif',
    model: 'ESP8266 + BME280',
    periodMs: 30_000,
    sensors: [
      sensor('temperature', 'Temperature', '°C', 'temperature', { start: 26, step: 0.2, min: 5, max: 40 }),
      sensor('soil_moisture', 'Soil moisture', '%', 'moisture', { start: 38, step: 0.4, min: 5, max: 90 }),
      sensor('illuminance', 'Light', 'lx', 'illuminance', { start: 14000, step: 600, min: 0, max: 60000 }, 0),
    ],
  },
  {
    id: 'solar_inverter',
    name: 'Solar inverter',
    manufacturer: 'Fronius',
    model: 'Primo 5.0-1',
    periodMs: 5_000,
    sensors: [
      sensor('power', 'PV power', 'W', 'power', { start: 3200, step: 120, min: 0, max: 5000 }, 0),
      sensor('energy_today', 'Energy today', 'kWh', 'energy', { start: 11.2, step: 0.01, min: 0, max: 40, pull: 0, trend: 'up' }, 2),
      sensor('dc_voltage', 'DC voltage', 'V', 'voltage', { start: 385, step: 2, min: 300, max: 450 }),
    ],
  },
  {
    id: 'air_purifier',
    name: 'Bedroom air purifier',
    manufacturer: 'Xiaomi',
    model: 'Mi Air Purifier 3H',
    periodMs: 20_000,
    sensors: [
      sensor('pm25', 'PM2.5', 'µg/m³', 'pm25', { start: 12, step: 1.5, min: 1, max: 150 }, 0),
      sensor('filter_life', 'Filter life', '%', undefined, { start: 64, step: 0.02, min: 0, max: 100, pull: 0, trend: 'down' }, 0),
    ],
  },
  {
    id: 'water_heater',
    name: 'Water heater',
    manufacturer: 'Shelly',
    model: 'Shelly Pro 1PM',
    periodMs: 10_000,
    sensors: [
      sensor('temperature', 'Tank temperature', '°C', 'temperature', { start: 55, step: 0.3, min: 35, max: 70 }),
      sensor('power', 'Heater power', 'W', 'power', { start: 1900, step: 40, min: 0, max: 2200 }, 0),
    ],
  },
]

/** The Home Assistant discovery devices. */
export function homeAssistantDevices(): DeviceSpec[] {
  return HA_DEVICES.map(haDevice)
}

function haDevice(d: HaDevice): DeviceSpec {
  const base = `homeassistant/sensor/${d.id}`
  const stateTopic = `${base}/state`
  const availabilityTopic = `${base}/availability`
  const configTopic = (s: HaSensor): string => `${base}/${s.key}/config`
  return {
    info: {
      id: d.id,
      name: d.name,
      style: 'homeassistant',
      topics: [...d.sensors.map(configTopic), stateTopic, availabilityTopic],
    },
    start(ctx) {
      const device = { identifiers: [d.id], name: d.name, manufacturer: d.manufacturer, model: d.model, sw_version: '2024.6.1' }
      for (const s of d.sensors) {
        const config = {
          name: s.name,
          unique_id: `${d.id}_${s.key}`,
          object_id: `${d.id}_${s.key}`,
          state_topic: stateTopic,
          value_template: `{{ value_json.${s.key} }}`,
          ...(s.unit === undefined ? {} : { unit_of_measurement: s.unit }),
          ...(s.deviceClass === undefined ? {} : { device_class: s.deviceClass }),
          state_class: 'measurement',
          availability_topic: availabilityTopic,
          payload_available: 'online',
          payload_not_available: 'offline',
          device,
        }
        void ctx.publish(configTopic(s), JSON.stringify(config), { retain: true, qos: 1 })
      }
      void ctx.publish(availabilityTopic, 'online', { retain: true, qos: 1 })
      const walks = d.sensors.map((s) => ({ key: s.key, digits: s.digits, next: randomWalk(ctx.random, s.walk) }))
      let first = true
      ctx.every(
        d.periodMs,
        () => {
          const state = Object.fromEntries(walks.map((w) => [w.key, round(w.next(), w.digits)]))
          // the first state is awaited like the configs so a dashboard opened at once has values
          void ctx.publish(stateTopic, JSON.stringify(state), { retain: true, qos: first ? 1 : 0 })
          first = false
        },
        { jitter: 0.05, immediate: true },
      )
    },
  }
}
