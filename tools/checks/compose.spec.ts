// compose.yaml checked without a Docker engine (none runs here, nor in CI): the Compose specification's JSON schema
// (as shipped by the dclint package) with Ajv, before and after interpolation with .env.example, then the rules of
// DESIGN § Deployment and the consistency between compose, the Dockerfile, nats.conf, .env.example and deploy.sh.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import {
  ROOT,
  appServices,
  composeServices,
  dockerfileStages,
  interpolateDeep,
  loadComposeRaw,
  loadEnvExample,
  natsUsers,
  passwordVariable,
  referencedVariables,
  servicesWithMain,
  type Json,
} from './deploy-helpers';

const SCHEMA_FILE = join(ROOT, 'node_modules', 'dclint', 'schemas', 'compose.schema.json');
const composeText = readFileSync(join(ROOT, 'compose.yaml'), 'utf8');
const raw = loadComposeRaw();
const env = loadEnvExample();
const resolved = interpolateDeep(raw, env) as Json;
/** One-shot jobs (they run to completion before the services): name → the image target they run. */
const JOBS: Readonly<Record<string, string>> = { 'bus-init': 'cli' };
/** The services that execute device writes for the arbiter. */
const DRIVERS = ['modbus-poller', 'http-devices', 'ocpp-csms', 'driver-host'];
const apps = Object.fromEntries(Object.entries(appServices(resolved)).filter(([name]) => !(name in JOBS)));
const all = Object.fromEntries(Object.entries(composeServices(resolved)).filter(([name]) => !(name in JOBS)));
const jobs = Object.fromEntries(Object.entries(composeServices(resolved)).filter(([name]) => name in JOBS));

/** Services the CLI or tooling provides but compose does not run (not long-running services). */
const NOT_IN_COMPOSE = new Set(['cli']);

function validator() {
  const { $schema, ...schema } = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Json;
  // A draft-07 schema, named by an https URL that Ajv does not know (its draft-07 meta-schema is the default).
  expect($schema).toMatch(/draft-07/);
  // strict: false — the published schema uses annotations (deprecated, …) that Ajv's strict mode rejects.
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema);
}

const describeErrors = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);

const deployScript = readFileSync(join(ROOT, 'docker', 'deploy', 'deploy.sh'), 'utf8');
const scriptList = (name: string) => {
  const match = new RegExp(`^readonly ${name}=\\(([^)]*)\\)`, 'm').exec(deployScript);
  return (match?.[1] ?? '').trim().split(/\s+/).filter(Boolean).sort();
};

describe('compose.yaml against the Compose specification schema', () => {
  const validate = validator();

  it('is valid as written (variables not yet substituted)', () => {
    expect(validate(raw) ? [] : describeErrors(validate.errors)).toEqual([]);
  });

  it('is valid after interpolation with .env.example', () => {
    expect(validate(resolved) ? [] : describeErrors(validate.errors)).toEqual([]);
  });

  it('rejects a broken file (the schema really checks)', () => {
    const broken = { ...resolved, services: { nats: { image: 'nats', restart: 'sometimes', ports: 'all' } } };
    expect(validate(broken)).toBe(false);
  });

  it('uses only variables that .env.example documents', () => {
    expect([...referencedVariables(composeText)].filter((name) => !(name in env)).sort()).toEqual([]);
  });
});

describe('compose.yaml services map to projects, images, NATS users and credentials', () => {
  const stages = dockerfileStages();
  const users = natsUsers();

  it.each(Object.keys(apps))('%s is a services/<name> project with a Dockerfile target', (name) => {
    expect(servicesWithMain()).toContain(name);
    const build = apps[name]?.['build'] as Json;
    expect(build).toEqual({ context: '.', dockerfile: 'docker/Dockerfile', target: name });
    expect(stages).toContain(name);
  });

  it.each(Object.keys(apps))('%s connects as its own NATS user with its password from .env', (name) => {
    const environment = apps[name]?.['environment'] as Record<string, string>;
    expect(environment['NATS_USER']).toBe(name);
    expect(users.has(name)).toBe(true);
    const variable = passwordVariable(name);
    expect(composeText).toContain(`NATS_PASS: \${${variable}:?`);
    // The example holds the development password of docker/nats/nats.conf, so a copied .env works with it.
    expect(env[variable]).toBe(users.get(name));
    expect(environment['NATS_PASS']).toBe(users.get(name));
  });

  it('runs every service that has an entry point (a new one needs compose, Dockerfile and deploy.sh entries)', () => {
    const missing = servicesWithMain().filter((name) => !NOT_IN_COMPOSE.has(name) && !(name in apps));
    expect(missing).toEqual([]);
  });

  it('builds an image target for every service it runs, and nothing else but the cli', () => {
    const targets = stages.filter((s) => !['bundle', 'modules', 'runtime'].includes(s)).sort();
    expect(targets).toEqual([...Object.keys(apps), 'cli'].sort());
  });

  it('deploys exactly its services: deploy.sh lists match the default set and the sim profile', () => {
    const byProfile = (profile: string | undefined) =>
      Object.entries(apps)
        .filter(([, s]) => ((s['profiles'] as string[] | undefined) ?? [])[0] === profile)
        .map(([name]) => name)
        .sort();
    expect(scriptList('SERVICES')).toEqual([...byProfile(undefined), ...Object.values(JOBS)].sort());
    expect(scriptList('SIM_SERVICES')).toEqual(byProfile('sim'));
  });
});

describe('compose.yaml follows DESIGN § Deployment', () => {
  it.each(Object.keys(all))('%s restarts unless stopped, rotates its json-file logs and has a memory limit', (name) => {
    const service = all[name] as Json;
    expect(service['restart']).toBe('unless-stopped');
    expect(service['logging']).toEqual({ driver: 'json-file', options: { 'max-size': '10m', 'max-file': '5' } });
    const limits = ((service['deploy'] as Json)['resources'] as Json)['limits'] as Json;
    expect(limits['memory']).toMatch(/^\d+M$/);
  });

  it.each(Object.keys(all))('%s has a healthcheck', (name) => {
    const test = ((all[name] as Json)['healthcheck'] as Json)['test'] as string[];
    expect(test[0]).toBe('CMD');
  });

  it.each(Object.keys(apps))(
    '%s is probed on /healthz, listens for it on 0.0.0.0 and starts after a healthy NATS',
    (name) => {
      const service = apps[name] as Json;
      expect(((service['healthcheck'] as Json)['test'] as string[]).slice(0, 3)).toEqual([
        'CMD',
        'node',
        '/app/healthcheck.js',
      ]);
      expect(readFileSync(join(ROOT, 'docker', 'healthcheck.js'), 'utf8')).toContain("path: '/healthz'");
      const environment = service['environment'] as Record<string, string>;
      expect(environment['HEALTH_HOST']).toBe('0.0.0.0');
      expect(environment['HEALTH_PORT']).toBe('8080');
      expect(environment['NATS_URL']).toBe('nats://nats:4222');
      expect(environment['SITE_FILE']).toMatch(/^\//);
      const dependsOn = service['depends_on'] as Record<string, Json>;
      expect(dependsOn['nats']).toEqual({ condition: 'service_healthy' });
      for (const [dependency, spec] of Object.entries(dependsOn)) {
        const condition =
          dependency in JOBS
            ? 'service_completed_successfully'
            : name === 'safety-arbiter' && DRIVERS.includes(dependency)
              ? 'service_started'
              : 'service_healthy';
        expect({ dependency, condition: spec['condition'] }).toEqual({ dependency, condition });
      }
    },
  );

  it.each(Object.keys(apps))('%s runs hardened: read-only root, no capabilities, no new privileges', (name) => {
    const service = apps[name] as Json;
    expect(service['read_only']).toBe(true);
    expect(service['cap_drop']).toEqual(['ALL']);
    expect(service['security_opt']).toEqual(['no-new-privileges:true']);
  });

  it.each(Object.keys(apps).filter((name) => name !== 'cloud-bridge'))(
    '%s mounts the site configuration read-only',
    (name) => {
      const volumes = apps[name]?.['volumes'] as Json[];
      expect(volumes).toContainEqual(
        expect.objectContaining({ type: 'bind', target: '/etc/voltimax', read_only: true }),
      );
    },
  );

  it('lets only cloud-bridge, the single writer of assets.json, mount the site configuration read-write', () => {
    const writable = Object.entries(apps)
      .filter(([, s]) =>
        ((s['volumes'] as Json[] | undefined) ?? []).some(
          (v) => v['target'] === '/etc/voltimax' && v['read_only'] !== true,
        ),
      )
      .map(([name]) => name);
    expect(writable).toEqual(['cloud-bridge']);
  });

  it('runs NATS 2.10 with docker/nats/nats.conf, a JetStream volume and a healthcheck', () => {
    const nats = all['nats'] as Json;
    expect(nats['image']).toBe('nats:2.10-alpine');
    expect(nats['volumes']).toContainEqual(
      expect.objectContaining({
        type: 'bind',
        source: './docker/nats/nats.conf',
        target: '/etc/nats/voltimax.conf',
        read_only: true,
      }),
    );
    expect(nats['command']).toEqual(['--config', '/etc/nats/voltimax.conf']);
    expect(nats['volumes']).toContain('nats-data:/data');
    expect(readFileSync(join(ROOT, 'docker', 'nats', 'nats.conf'), 'utf8')).toMatch(/store_dir:\s*"\/data\/jetstream"/);
    expect(((nats['healthcheck'] as Json)['test'] as string[]).join(' ')).toContain('http://127.0.0.1:8222/healthz');
    // Only on the loopback of the gateway.
    expect((nats['ports'] as string[]).every((p) => p.startsWith('127.0.0.1:'))).toBe(true);
  });

  it('stops the arbiter before the drivers (compose stops dependents first), so its safe setpoints reach the devices', () => {
    const arbiter = apps['safety-arbiter'] as Json;
    expect(Object.keys(arbiter['depends_on'] as Json)).toEqual(expect.arrayContaining([...DRIVERS]));
    // DRIVERS are exactly the NATS users that receive device writes (docker/nats/nats.conf).
    const users = readFileSync(join(ROOT, 'docker', 'nats', 'nats.conf'), 'utf8').split(/\buser: "/).slice(1);
    const receiving = users
      .filter((block) => /subscribe: \{\s*allow: \[[^\]]*"device\.\*\.write"/.test(block))
      .map((block) => block.slice(0, block.indexOf('"')));
    expect(new Set(receiving)).toEqual(new Set(DRIVERS));
  });

  it('gives the strategy engine Redis and starts it after Redis and the arbiter', () => {
    const engine = apps['strategy-engine'] as Json;
    expect((engine['environment'] as Json)['REDIS_URL']).toBe('redis://redis:6379');
    expect(Object.keys(engine['depends_on'] as Json)).toEqual(expect.arrayContaining(['redis', 'safety-arbiter']));
    expect(((all['redis'] as Json)['healthcheck'] as Json)['test']).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('puts the simulator, and only it, under the sim profile, and makes the others wait for it only when present', () => {
    const profiled = Object.entries(all).filter(([, s]) => s['profiles'] !== undefined);
    expect(profiled.map(([name, s]) => [name, s['profiles']])).toEqual([['simulator', ['sim']]]);
    for (const [name, service] of Object.entries(apps)) {
      if (name === 'simulator') continue;
      expect((service['depends_on'] as Json)['simulator']).toEqual({ condition: 'service_healthy', required: false });
    }
  });

  it('shards the poller by replica: POLLER_SHARD=auto/<replicas> with a shared lease volume', () => {
    const poller = apps['modbus-poller'] as Json;
    expect(composeText).toContain('POLLER_SHARD: auto/${POLLER_REPLICAS:-1}');
    expect(composeText).toContain('replicas: ${POLLER_REPLICAS:-1}');
    expect((poller['environment'] as Json)['SHARD_LEASE_DIR']).toBe('/var/lib/voltimax/shards');
    expect(poller['volumes']).toContain('shards:/var/lib/voltimax/shards');
    expect(poller['container_name']).toBeUndefined();
  });

  it('runs bus-init once, as the provisioner, hardened; the stream users wait for it, the control path does not', () => {
    const job = jobs['bus-init'] as Json;
    expect(job['build']).toEqual({ context: '.', dockerfile: 'docker/Dockerfile', target: 'cli' });
    expect(job['command']).toEqual(['bus', 'init', '--wait-ms', '60000']);
    expect(job['restart']).toBe('no');
    expect(job['read_only']).toBe(true);
    expect(job['cap_drop']).toEqual(['ALL']);
    expect(job['security_opt']).toEqual(['no-new-privileges:true']);
    const environment = job['environment'] as Record<string, string>;
    expect(environment['NATS_USER']).toBe('provisioner');
    expect(composeText).toContain(`NATS_PASS: \${${passwordVariable('provisioner')}:?`);
    expect(environment['NATS_PASS']).toBe(natsUsers().get('provisioner'));
    // The same retention as the telemetry-publisher's, or the stream would be provisioned with other limits.
    const publisher = apps['telemetry-publisher']?.['environment'] as Record<string, string>;
    for (const key of ['TELEMETRY_MAX_AGE_MS', 'TELEMETRY_MAX_BYTES']) expect(environment[key]).toBe(publisher[key]);
    expect((job['depends_on'] as Json)['nats']).toEqual({ condition: 'service_healthy' });
    const waiting = Object.entries(apps)
      .filter(([, service]) => (service['depends_on'] as Json)['bus-init'] !== undefined)
      .map(([name, service]) => [name, (service['depends_on'] as Json)['bus-init']]);
    // They cannot start without their streams; the drivers, the arbiter and the engine run even if it fails.
    expect(waiting).toEqual([
      ['cloud-bridge', { condition: 'service_completed_successfully' }],
      ['telemetry-publisher', { condition: 'service_completed_successfully' }],
    ]);
  });

  it('keeps the arbiter single: a fixed container name makes --scale fail', () => {
    expect((apps['safety-arbiter'] as Json)['container_name']).toBe('voltimax-safety-arbiter');
  });
});
