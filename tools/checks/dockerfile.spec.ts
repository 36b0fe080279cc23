// docker/Dockerfile read as text (no engine here to build it): the shape DESIGN § Deployment asks for — a target per
// service on one small non-root runtime, a healthcheck on /healthz, nothing tied to one CPU architecture.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, dockerfileStages } from './deploy-helpers';

const text = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8');
const instructions = text
  .replace(/\s*\\\n\s*/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));

/** The instructions of one stage (from its FROM to the next). */
function stage(name: string): string[] {
  const start = instructions.findIndex((line) => new RegExp(`^FROM .* AS ${name}$`, 'i').test(line));
  if (start < 0) throw new Error(`no stage ${name}`);
  const end = instructions.findIndex((line, i) => i > start && /^FROM /i.test(line));
  return instructions.slice(start, end < 0 ? undefined : end);
}

const SERVICE_TARGETS = dockerfileStages().filter((s) => !['bundle', 'modules', 'runtime'].includes(s));

describe('docker/Dockerfile', () => {
  it('has the build stages, then one target per service', () => {
    expect(dockerfileStages().slice(0, 3)).toEqual(['bundle', 'modules', 'runtime']);
    expect(SERVICE_TARGETS).toEqual(
      expect.arrayContaining(['modbus-poller', 'strategy-engine', 'safety-arbiter', 'simulator', 'cli']),
    );
  });

  it('starts from the slim Node 20 image (glibc: the serialport addon ships glibc builds for x64 and arm64)', () => {
    expect(instructions).toContain('ARG NODE_IMAGE=node:20-bookworm-slim');
    expect(stage('runtime')[0]).toBe('FROM ${NODE_IMAGE} AS runtime');
  });

  it('bundles on the build platform and installs production modules on the target platform', () => {
    expect(stage('bundle')[0]).toBe('FROM --platform=$BUILDPLATFORM ${NODE_IMAGE} AS bundle');
    expect(stage('bundle')).toContain('RUN node docker/build.js --out /out');
    expect(stage('modules')[0]).toBe('FROM ${NODE_IMAGE} AS modules');
    expect(stage('modules').join('\n')).toMatch(/npm ci --omit=dev/);
    expect(stage('modules')).toContain('RUN node docker/build.js --modules /src --out /out --verify');
  });

  it('names no CPU architecture in any instruction (multi-arch through buildx --platform)', () => {
    expect(instructions.filter((line) => /amd64|arm64|aarch64|x86_64|armv\d|\bx64\b/i.test(line))).toEqual([]);
  });

  it('runs as a non-root user with a /healthz healthcheck', () => {
    const runtime = stage('runtime');
    expect(runtime).toContain('USER 1000:1000');
    expect(runtime.join('\n')).toMatch(/^HEALTHCHECK .*CMD \["node", "\/app\/healthcheck.js"\]$/m);
    expect(runtime).toContain(
      'ENV NODE_ENV=production HEALTH_HOST=0.0.0.0 HEALTH_PORT=8080 STATE_DIR=/var/lib/voltimax',
    );
    // Nothing after the runtime stage switches back to root.
    expect(instructions.filter((line) => /^USER\s+(root|0)(\s|:|$)/i.test(line))).toEqual([]);
  });

  it.each(SERVICE_TARGETS)('%s is the runtime stage plus its own bundle folder', (target) => {
    const lines = stage(target);
    expect(lines[0]).toBe(`FROM runtime AS ${target}`);
    expect(lines).toContain(`COPY --from=modules /out/${target}/ /app/`);
    expect(lines.filter((line) => /^RUN /.test(line))).toEqual([]);
  });

  it('starts the poller through its shard-lease entry point', () => {
    expect(stage('modbus-poller')).toContain('COPY docker/poller-entry.js /app/poller-entry.js');
    expect(stage('modbus-poller')).toContain('CMD ["node", "/app/poller-entry.js"]');
  });

  it('runs the services with the memory settings of the gateway bench (V8 heap limits, one V8 worker thread)', () => {
    expect(stage('runtime')).toContain(
      'ENV NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=2 --v8-pool-size=1" MALLOC_ARENA_MAX=2',
    );
    // A command-line V8 flag would override a service's own NODE_OPTIONS in compose.yaml.
    expect(instructions.filter((line) => /^(CMD|ENTRYPOINT) \["node", "--max-/.test(line))).toEqual([]);
  });

  it('keeps the build context small and free of secrets (.dockerignore)', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    expect(ignored).toEqual(
      expect.arrayContaining(['**/node_modules', '**/dist', '.git', '.env', '.env.*', 'tmp', 'config']),
    );
  });
});
