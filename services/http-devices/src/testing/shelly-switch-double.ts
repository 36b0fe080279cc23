// A Shelly Plus 1PM double on a real Mosquitto: it takes `on`/`off` on <prefix>/command/switch:0 (and
// `status_update` on <prefix>/command) and publishes its switch:0 status, as the device does with MQTT control and
// status notifications on (shelly-gen2.md). Its behaviour can be broken on purpose.
import { connect, type MqttClient } from 'mqtt';

/** `obey`: switch as told; `stuck`: report the old state; `silent`: publish nothing. */
export type SwitchBehaviour = 'obey' | 'stuck' | 'silent';

export interface ShellySwitchDouble {
  output: boolean;
  behaviour: SwitchBehaviour;
  commands: string[];
  close(): Promise<void>;
}

export async function startShellySwitchDouble(url: string, prefix: string): Promise<ShellySwitchDouble> {
  const client: MqttClient = connect(url, { protocolVersion: 4, clientId: `double-${prefix}` });
  const state = { output: false, behaviour: 'obey' as SwitchBehaviour, commands: [] as string[] };
  const status = () => ({
    id: 0,
    source: 'MQTT',
    output: state.output,
    apower: state.output ? 3_680.2 : 0,
    voltage: 230.1,
    current: state.output ? 15.994 : 0,
    aenergy: { total: 1_520.334, by_minute: [0, 0, 0], minute_ts: 1_712_750_400 },
    temperature: { tC: 41.2, tF: 106.2 },
  });
  const publish = () => {
    if (state.behaviour === 'silent') return;
    client.publish(`${prefix}/status/switch:0`, JSON.stringify(status()), { qos: 1 });
  };
  client.on('message', (topic, payload) => {
    const text = payload.toString('utf8');
    if (topic === `${prefix}/command/switch:0`) {
      state.commands.push(text);
      if (state.behaviour === 'obey' && (text === 'on' || text === 'off')) state.output = text === 'on';
      publish();
    } else if (topic === `${prefix}/command` && text === 'status_update') {
      publish();
    }
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync([`${prefix}/command/switch:0`, `${prefix}/command`], { qos: 1 });
  return {
    get output() {
      return state.output;
    },
    set output(on: boolean) {
      state.output = on;
    },
    get behaviour() {
      return state.behaviour;
    },
    set behaviour(b: SwitchBehaviour) {
      state.behaviour = b;
    },
    commands: state.commands,
    close: async () => {
      await client.endAsync(true);
    },
  };
}
