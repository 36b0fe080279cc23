import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConnectionSchema, DEFAULT_MIN_TICK_MS, SiteConfigSchema, formatIssues, jsonPath, type SiteConfigInput } from './index';

const EXAMPLE_FILE = join(__dirname, '../../../docker/config/assets.example.json');
const example = (): SiteConfigInput => JSON.parse(readFileSync(EXAMPLE_FILE, 'utf8')) as SiteConfigInput;

function paths(input: unknown): string[] {
  const result = SiteConfigSchema.safeParse(input);
  return result.success ? [] : formatIssues(result.error.issues).map((p) => p.path);
}

describe('site configuration (assets.json)', () => {
  it('parses the shipped example with battery, hybrid inverter, grid meter and EV charger', () => {
    const site = SiteConfigSchema.parse(example());
    expect(site.assets.map((a) => a.kind)).toEqual(['battery', 'hybrid-inverter', 'grid-meter', 'ev-charger']);
    expect(site.cloud).toEqual({ transport: 'none' });
  });

  it('applies defaults in one place', () => {
    const input = example();
    const first = input.assets[0];
    if (first?.kind !== 'battery') throw new Error('example starts with the battery');
    delete first.pollIntervalMs;
    const site = SiteConfigSchema.parse(input);
    expect(site.assets[0]?.pollIntervalMs).toBe(1000);
  });

  it('names a typo in a key as an error instead of ignoring it', () => {
    const input = { ...example(), gatewayID: 'x' };
    const result = SiteConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(formatIssues(result.error?.issues ?? [])[0]?.message).toMatch(/gatewayID/);
  });

  it.each([
    ['port out of range', (s: SiteConfigInput) => ({ ...s, assets: s.assets.map((a, i) => (i === 0 ? { ...a, connection: { protocol: 'modbus-tcp', host: 'h', port: 70000, unitId: 1 } } : a)) }), '$.assets[0].connection.port'],
    ['unknown protocol', (s: SiteConfigInput) => ({ ...s, assets: s.assets.map((a, i) => (i === 2 ? { ...a, connection: { protocol: 'bacnet' } } : a)) }), '$.assets[2].connection.protocol'],
    ['asset id with a dot', (s: SiteConfigInput) => ({ ...s, assets: s.assets.map((a, i) => (i === 1 ? { ...a, id: 'inv.1' } : a)) }), '$.assets[1].id'],
    ['bad timezone', (s: SiteConfigInput) => ({ ...s, timezone: 'Paris time' }), '$.timezone'],
    ['negative import limit', (s: SiteConfigInput) => ({ ...s, grid: { ...s.grid, maxImportW: -1 } }), '$.grid.maxImportW'],
    ['unknown strategy', (s: SiteConfigInput) => ({ ...s, strategy: { ...s.strategy, active: ['make-money'] } }), '$.strategy.active[0]'],
    ['bad rule time', (s: SiteConfigInput) => ({ ...s, rules: [{ id: 'r', when: { type: 'time', from: '25:00', to: '05:00' }, then: { type: 'activate-strategy', strategy: 'charge' } }] }), '$.rules[0].when.from'],
    ['VAT over 100 %', (s: SiteConfigInput) => ({ ...s, tariff: { ...s.tariff, vatPct: 120 } }), '$.tariff.vatPct'],
  ])('reports %s at its JSON path', (_name, mutate, path) => {
    expect(paths(mutate(example()))).toContain(path);
  });

  it('refuses a time zone the runtime does not know, naming it', () => {
    // 'Mars/Base' looks like an IANA name; before, it passed and every local-time rule went quiet (the month's peak
    // never reset, no ToU period matched).
    const result = SiteConfigSchema.safeParse({ ...example(), timezone: 'Mars/Base' });
    expect(result.success).toBe(false);
    expect(formatIssues(result.error?.issues ?? [])).toEqual([{ path: '$.timezone', message: "unknown time zone 'Mars/Base': an IANA name like Europe/Paris" }]);
    for (const timezone of ['UTC', 'Europe/Paris', 'America/Argentina/Buenos_Aires', 'Etc/GMT-2']) {
      expect(SiteConfigSchema.safeParse({ ...example(), timezone }).success).toBe(true);
    }
  });

  it('refuses a SoC window with min above max', () => {
    const input = example();
    const battery = input.assets[0];
    if (battery?.kind !== 'battery') throw new Error('example starts with the battery');
    battery.battery = { ...battery.battery, minSocPct: 90, maxSocPct: 80 };
    expect(paths(input)).toContain('$.assets[0].battery.minSocPct');
  });

  it('refuses duplicate asset ids and names both places', () => {
    const input = example();
    const twin = { ...input.assets[2], id: 'grid-1' };
    const result = SiteConfigSchema.safeParse({ ...input, assets: [...input.assets, twin] });
    expect(result.success).toBe(false);
    expect(formatIssues(result.error?.issues ?? [])).toContainEqual({ path: '$.assets[4].id', message: "duplicate asset id 'grid-1' (also at assets[2])" });
  });

  it('refuses rules that name an unknown asset', () => {
    const input = example();
    const rule = { id: 'x', when: { type: 'soc-below', assetId: 'bat-9', socPct: 10 }, then: { type: 'activate-strategy', strategy: 'null' } };
    expect(paths({ ...input, rules: [rule] })).toContain('$.rules[0].when.assetId');
  });

  it('refuses a rule whose asset is of the wrong kind, a duplicate rule id, and an intent lifetime under two ticks', () => {
    const input = example();
    const issues = (rules: unknown[]) => {
      const result = SiteConfigSchema.safeParse({ ...input, rules });
      return result.success ? [] : formatIssues(result.error.issues);
    };
    // The example: bat-1 battery, inv-1 hybrid inverter (no battery block), grid-1 grid meter, ev-1 charger.
    expect(
      issues([
        { id: 'a', when: { type: 'soc-below', assetId: 'grid-1', socPct: 10 }, then: { type: 'set-battery-power', assetId: 'inv-1', powerW: 0 } },
        { id: 'b', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-ev-current', assetId: 'bat-1', currentA: 6 } },
        { id: 'b', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'limit-ev-current', assetId: 'ev-1', maxCurrentA: 6 }, ttlMs: 500 },
      ]),
    ).toEqual([
      { path: '$.rules[0].when.assetId', message: "'soc-below' needs a battery (or a hybrid inverter with a battery block); 'grid-1' is a grid-meter" },
      {
        path: '$.rules[0].then.assetId',
        message: "'set-battery-power' needs a battery (or a hybrid inverter with a battery block); 'inv-1' is a hybrid-inverter without a battery block",
      },
      { path: '$.rules[1].then.assetId', message: "'set-ev-current' needs an ev-charger; 'bat-1' is a battery" },
      { path: '$.rules[2].id', message: "duplicate rule id 'b'" },
      { path: '$.rules[2].ttlMs', message: 'ttlMs 500 is shorter than two ticks (strategy.tickMs 1000): the rule would lapse between ticks' },
    ]);
    expect(
      issues([
        { id: 'c', when: { type: 'soc-below', assetId: 'bat-1', socPct: 15 }, then: { type: 'limit-battery-power', assetId: 'bat-1', maxDischargeW: 0 } },
      ]),
    ).toEqual([]);
    // A set-point beyond the asset's own limits is a typo, named with the limit (bat-1: 5 kW each way; ev-1: 6–16 A).
    expect(
      issues([
        { id: 'e', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: 50_000 } },
        { id: 'f', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: -6_000 } },
        { id: 'g', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 63 } },
        { id: 'h', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 3 } },
        { id: 'i', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-ev-current', assetId: 'ev-1', currentA: 0 } },
        { id: 'j', when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'set-battery-power', assetId: 'bat-1', powerW: -5_000 } },
      ]),
    ).toEqual([
      { path: '$.rules[0].then.powerW', message: "50000 W is beyond 'bat-1' (max discharge 5000 W)" },
      { path: '$.rules[1].then.powerW', message: "-6000 W is beyond 'bat-1' (max charge 5000 W)" },
      { path: '$.rules[2].then.currentA', message: "63 A is outside 'ev-1' (0 to pause, else 6–16 A)" },
      { path: '$.rules[3].then.currentA', message: "3 A is outside 'ev-1' (0 to pause, else 6–16 A)" },
    ]);
    // Rule ids are at most 64 characters (they name the rule in reasons and metrics keys).
    expect(
      issues([{ id: 'r'.repeat(65), when: { type: 'grid-import-above', powerW: 9_000 }, then: { type: 'activate-strategy', strategy: 'null' } }]).map((p) => p.path),
    ).toEqual(['$.rules[0].id']);
    // 24:00 is not a time of day; the message says what is.
    expect(
      issues([{ id: 'd', when: { type: 'time', from: '22:00', to: '24:00' }, then: { type: 'activate-strategy', strategy: 'null' } }]),
    ).toEqual([{ path: '$.rules[0].when.to', message: 'time must be HH:MM (24 h, 00:00–23:59; midnight is 00:00)' }]);
  });

  it('refuses a cloud connection string in the file (secrets are referenced by env var)', () => {
    const input = { ...example(), cloud: { transport: 'servicebus', connectionString: 'Endpoint=sb://x' } };
    expect(SiteConfigSchema.safeParse(input).success).toBe(false);
  });

  it('builds JSON paths', () => {
    expect(jsonPath(['assets', 0, 'connection', 'port'])).toBe('$.assets[0].connection.port');
    expect(jsonPath(['config', 'net-zero'])).toBe('$.config["net-zero"]');
  });
});

describe('strategy selection', () => {
  const withStrategy = (strategy: Record<string, unknown>): unknown => ({ ...example(), strategy });

  it('leaves the reading-tick spacing (minTickMs) out when absent: a parsed configuration keeps its shape', () => {
    const site = SiteConfigSchema.parse(withStrategy({ active: ['net-zero'] }));
    expect(site.strategy).toEqual({ active: ['net-zero'], tickMs: 1_000, config: {} });
    expect(DEFAULT_MIN_TICK_MS).toBe(50);
  });

  it('takes a minTickMs up to tickMs', () => {
    expect(SiteConfigSchema.parse(withStrategy({ active: ['net-zero'], tickMs: 500, minTickMs: 500 })).strategy.minTickMs).toBe(500);
  });

  it.each([
    ['above tickMs', { tickMs: 500, minTickMs: 600 }],
    ['below 10 ms', { minTickMs: 5 }],
    ['not an integer', { minTickMs: 50.5 }],
  ])('refuses a minTickMs %s, at its path', (_name, fields) => {
    expect(paths(withStrategy({ active: ['net-zero'], ...fields }))).toEqual(['$.strategy.minTickMs']);
  });
});

describe('HTTP and MQTT connections', () => {
  const parse = (connection: unknown) => ConnectionSchema.safeParse(connection);
  const problems = (connection: unknown) => {
    const result = parse(connection);
    return result.success ? [] : formatIssues(result.error.issues).map((p) => `${p.path}: ${p.message}`);
  };

  it('accepts an HTTP device with a token variable, and an MQTT device with its broker, version and credentials', () => {
    expect(parse({ protocol: 'http', baseUrl: 'http://192.0.2.30', tokenEnv: 'PEBLAR_TOKEN' }).success).toBe(true);
    expect(
      parse({
        protocol: 'mqtt',
        topicPrefix: 'shellypro3em-0cb815fc1234',
        brokerUrl: 'mqtts://broker.local:8883',
        mqttVersion: '5.0',
        usernameEnv: 'MQTT_USER',
        passwordEnv: 'MQTT_PASS',
      }).data,
    ).toMatchObject({ mqttVersion: '5.0' });
    expect(parse({ protocol: 'mqtt', topicPrefix: 'plug-1' }).success).toBe(true);
  });

  it.each([
    [{ protocol: 'http', baseUrl: 'ftp://192.0.2.30' }, '$.baseUrl'],
    [{ protocol: 'http', baseUrl: 'http://x', tokenEnv: 'my-token' }, '$.tokenEnv'],
    [{ protocol: 'http', baseUrl: 'http://admin:pw@192.0.2.30/' }, '$.baseUrl: baseUrl must not contain user:password@'],
    [{ protocol: 'mqtt', topicPrefix: 'p', brokerUrl: 'broker.local:1883' }, '$.brokerUrl: brokerUrl must start with mqtt://'],
    [{ protocol: 'mqtt', topicPrefix: 'p', mqttVersion: '3.1' }, '$.mqttVersion'],
    [{ protocol: 'mqtt', topicPrefix: 'p', password: 'secret' }, 'password'],
    [{ protocol: 'mqtt', topicPrefix: '' }, '$.topicPrefix'],
  ])('refuses %j', (connection, message) => {
    expect(problems(connection).join(' | ')).toContain(message);
  });
});

describe('protocol plugins (drivers)', () => {
  const withPlugin = (driver: string, drivers: unknown[]): unknown => {
    const input = example();
    return {
      ...input,
      drivers,
      assets: [
        ...input.assets,
        {
          id: 'ahu-meter',
          name: 'Building meter via BACnet',
          kind: 'meter',
          measures: 'load',
          profile: 'bacnet.generic',
          connection: { protocol: 'plugin', driver, options: { deviceId: 1201 } },
        },
      ],
    };
  };

  it('accepts a plugin asset whose driver is declared, from a package or a local path, with defaults', () => {
    const site = SiteConfigSchema.parse(withPlugin('bacnet', [{ name: 'bacnet', module: '@voltimax/driver-bacnet' }]));
    expect(site.drivers).toEqual([{ name: 'bacnet', module: '@voltimax/driver-bacnet', enabled: true, options: {} }]);
    expect(site.assets.at(-1)?.connection).toEqual({ protocol: 'plugin', driver: 'bacnet', options: { deviceId: 1201 } });
    expect(SiteConfigSchema.safeParse(withPlugin('x', [{ name: 'x', module: './drivers/x' }])).success).toBe(true);
    expect(SiteConfigSchema.parse(example()).drivers).toEqual([]);
  });

  it.each([
    ['an undeclared driver', withPlugin('bacnet', []), "$.assets[4].connection.driver: driver 'bacnet' is not in the site's drivers list"],
    ['a duplicate driver', withPlugin('a', [{ name: 'a', module: 'a' }, { name: 'a', module: 'b' }]), "$.drivers[1].name: duplicate driver 'a'"],
    ['a module that is neither a package nor a path', withPlugin('a', [{ name: 'a', module: 'C:\\drivers' }]), '$.drivers[0].module: module must be'],
    ['an upper-case driver name', withPlugin('BACnet', [{ name: 'BACnet', module: 'a' }]), '$.drivers[0].name: driver name must be'],
  ])('refuses %s', (_what, input, message) => {
    const result = SiteConfigSchema.safeParse(input);
    const found = result.success ? [] : formatIssues(result.error.issues).map((p) => `${p.path}: ${p.message}`);
    expect(found.join(' | ')).toContain(message);
  });
});
