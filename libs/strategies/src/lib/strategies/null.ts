import { z } from 'zod';
import { holdAllBatteries } from '../battery';
import type { Strategy, StrategyResult } from '../strategy';

/** Null: no keys. */
export const NullConfigSchema = z.strictObject({});
export type NullConfig = z.infer<typeof NullConfigSchema>;
export type NullMemory = Readonly<Record<string, never>>;

/** Null: every battery idles at 0 W; EV chargers are left alone. */
export const nullStrategy: Strategy<NullConfig, NullMemory> = {
  name: 'null',
  role: 'primary',
  configSchema: NullConfigSchema,
  initialMemory: () => ({}),
  decide(state, _config, _clock, memory): StrategyResult<NullMemory> {
    return {
      setpoints: holdAllBatteries(state.batteries),
      metrics: { inputs: { batteries: state.batteries.length }, outputs: { batteryPowerW: 0 }, terms: {}, reason: 'idle' },
      memory,
    };
  },
};
