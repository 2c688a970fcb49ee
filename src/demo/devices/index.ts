/** The demo fleet's layout: which devices exist and which MQTT connection each one speaks through. */
import type { ConnectionSpec } from '../device.js'
import { garageDoorConnection, genericDevices } from './generic.js'
import { homeAssistantDevices } from './homeassistant.js'
import { plantConnection } from './plant.js'
import { rpcResponder } from './rpc.js'
import { tasmotaConnections } from './tasmota.js'
import { zigbee2mqttConnection } from './zigbee2mqtt.js'

/**
 * Every connection of the demo. Devices that need a Last Will get a connection of their own (a Will covers one
 * topic); bridges and gateways carry their devices as the real ones do; the rest share one plain connection.
 */
export function fleetLayout(): ConnectionSpec[] {
  return [
    zigbee2mqttConnection(),
    ...tasmotaConnections(),
    plantConnection(),
    garageDoorConnection(),
    { clientId: 'demo-devices', devices: [...homeAssistantDevices(), ...genericDevices(), rpcResponder()] },
  ]
}
