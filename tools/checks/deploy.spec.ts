// docker/deploy/deploy.sh and every other shell script, without a Docker engine:
// - shellcheck over all shell scripts (Debian package `shellcheck`);
// - the --dry-run plan, with docker and ssh booby-trapped so that nothing may run;
// - the real ssh path against an sshd started here on 127.0.0.1 (Debian `openssh-server`) with keys made for the
//   test, and a fake `docker` on both sides that records what it was asked (the "target" is this machine, in a
//   temporary folder): images go across, files land, compose starts, and a failed start rolls back to :previous.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join, relative } from 'node:path';
import { freePort, waitFor } from '@voltimax/testing';
import { ROOT } from './deploy-helpers';

const DEPLOY = join(ROOT, 'docker', 'deploy', 'deploy.sh');
/** The default services of deploy.sh (compose.spec checks that this list is compose's set without a profile). */
const SERVICES = (
  /^readonly SERVICES=\(([^)]*)\)/m.exec(readFileSync(join(ROOT, 'docker', 'deploy', 'deploy.sh'), 'utf8'))?.[1] ?? ''
)
  .trim()
  .split(/\s+/)
  .filter(Boolean);

function binary(name: string, hint: string): string {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/bin']) {
    const candidate = join(dir, name);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} not found: ${hint}`);
}

function writeScript(path: string, body: string): void {
  writeFileSync(path, body);
  chmodSync(path, 0o755);
}

/** Shell scripts of the repository: *.sh, and files whose first line is a sh/bash shebang. */
function shellScripts(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        entry.name.endsWith('.sh') ||
        /^#!.*\b(ba|da)?sh\b/.test(readFileSync(path, 'utf8').split('\n', 1)[0] ?? '')
      ) {
        found.push(relative(ROOT, path));
      }
    }
  };
  for (const dir of ['docker', 'bin', '.ci', 'tools']) if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
  return found.sort();
}

describe('shell scripts', () => {
  it('include the deploy script, and all pass shellcheck', () => {
    const scripts = shellScripts();
    expect(scripts).toContain('docker/deploy/deploy.sh');
    const shellcheck = binary('shellcheck', 'apt-get install shellcheck');
    const result = spawnSync(shellcheck, ['--external-sources', ...scripts], { cwd: ROOT, encoding: 'utf8' });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});

describe('deploy.sh --dry-run', () => {
  let trap: string;
  beforeAll(() => {
    trap = mkdtempSync(join(tmpdir(), 'deploy-dry-'));
    // Anything the dry run really ran would leave a trace here.
    for (const name of ['docker', 'ssh', 'tar', 'scp'])
      writeScript(join(trap, name), `#!/bin/sh\necho "${name} $*" >> ${trap}/ran\nexit 99\n`);
  });
  afterAll(() => rmSync(trap, { recursive: true, force: true }));

  // Started from another folder than the repository, with relative paths: the script resolves them first.
  const dryRun = (...args: string[]) =>
    spawnSync('bash', [DEPLOY, '--dry-run', ...args], {
      cwd: join(ROOT, 'docker'),
      encoding: 'utf8',
      env: { ...process.env, PATH: `${trap}:${process.env['PATH'] ?? ''}` },
    });

  it('prints every step in order and runs nothing', () => {
    const result = dryRun(
      '--profile',
      'sim',
      '--config',
      'config',
      '--env-file',
      '../.env.example',
      '--dir',
      '/srv/gw',
      'pi@gw.local',
    );
    expect(result.status).toBe(0);
    expect(existsSync(join(trap, 'ran'))).toBe(false);
    const lines = result.stdout.split('\n').filter((l) => l.startsWith('+ '));
    const expected = [
      ...[...SERVICES, 'simulator'].map(
        (s) =>
          `+ docker buildx build --platform linux/arm64 -f docker/Dockerfile --target ${s} -t voltimax/${s}:latest --load .`,
      ),
      expect.stringMatching(
        /^\+ ssh pi@gw\.local set -e; mkdir -p \/srv\/gw\/docker\/nats \/srv\/gw\/config; .*docker tag "\$i:"latest "\$i:previous"/,
      ),
      `+ docker save ${[...SERVICES, 'simulator'].map((s) => `voltimax/${s}:latest`).join(' ')} | ssh -C pi@gw.local docker load`,
      '+ tar -cf - compose.yaml docker/nats/nats.conf | ssh pi@gw.local tar -C /srv/gw -xf -',
      `+ tar -C ${ROOT}/docker/config -cf - . | ssh pi@gw.local tar -C /srv/gw/config -xf -`,
      `+ ssh pi@gw.local umask 077 && cat > /srv/gw/.env < ${ROOT}/.env.example`,
      '+ ssh pi@gw.local cd /srv/gw && if [ -f docker/nats/nats.conf.previous ] && ! cmp -s docker/nats/nats.conf docker/nats/nats.conf.previous; ' +
        'then docker compose -f /srv/gw/compose.yaml --profile sim up -d --no-deps --force-recreate nats; fi && ' +
        'docker compose -f /srv/gw/compose.yaml --profile sim up -d --no-build --remove-orphans --wait --wait-timeout 180',
      '+ ssh pi@gw.local docker compose -f /srv/gw/compose.yaml --profile sim ps',
      expect.stringMatching(
        /^\+ ssh pi@gw\.local set -e; cd \/srv\/gw; restored=0; nats_changed=0; .*docker tag "\$i:previous" "\$i:"latest; .*if \[ "\$nats_changed" = 1 \]; then .* up -d --no-deps --force-recreate nats; fi; .* up -d --no-build --remove-orphans --wait --wait-timeout 180$/,
      ),
    ];
    expect(lines).toEqual(expected);
  });

  it('asks the target for its CPU with --platform auto', () => {
    const result = dryRun('--platform', 'auto', 'gw');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('+ ssh gw uname -m\n');
    expect(result.stdout).toContain('--platform linux/arm64');
  });

  it('builds for x64 when told so, and only the default services without a profile', () => {
    const result = dryRun('--platform', 'linux/amd64', 'gw');
    expect(result.stdout.match(/buildx build --platform linux\/amd64/g)).toHaveLength(SERVICES.length);
    expect(result.stdout).not.toContain('simulator');
  });

  it.each([
    [[], /missing <ssh-target>/],
    [['--platform', 'linux/s390x', 'gw'], /--platform must be/],
    [['--profile', 'nope', 'gw'], /unknown compose profile nope/],
    [['--dir', 'relative', 'gw'], /--dir must be an absolute path/],
    [['--tag', 'previous', 'gw'], /--tag must be/],
    [['a', 'b'], /one ssh target only/],
  ])('refuses %j with exit 2', (args, message) => {
    const result = dryRun(...args);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('deploy.sh over a real ssh connection (loopback sshd, fake docker on both ends)', () => {
  let dir: string;
  let sshd: ChildProcess | undefined;
  let sshdLog = '';
  const target = () => join(dir, 'target', 'opt', 'voltimax');
  const remoteLog = () => join(dir, 'remote-docker.log');
  const localLog = () => join(dir, 'local-docker.log');
  const image = (name: string) => join(dir, 'remote-images', name.replace(/[/:]/g, '_'));

  beforeAll(async () => {
    const sshdBin = binary('sshd', 'apt-get install openssh-server');
    const keygen = binary('ssh-keygen', 'apt-get install openssh-client');
    binary('ssh', 'apt-get install openssh-client');
    dir = mkdtempSync(join(tmpdir(), 'deploy-ssh-'));
    for (const key of ['host_key', 'client_key']) {
      const made = spawnSync(
        keygen,
        ['-q', '-t', 'ed25519', '-N', '', '-C', 'voltimax-deploy-test', '-f', join(dir, key)],
        { encoding: 'utf8' },
      );
      expect(made.status).toBe(0);
    }
    writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')));
    mkdirSync(join(dir, 'remote-bin'));
    mkdirSync(join(dir, 'local-bin'));
    mkdirSync(join(dir, 'remote-images'));
    mkdirSync(target(), { recursive: true });

    // The target's docker: records each call; images are files holding the version `docker save` sent.
    writeScript(
      join(dir, 'remote-bin', 'docker'),
      `#!/bin/sh
printf '%s\\n' "$*" >> '${remoteLog()}'
images='${join(dir, 'remote-images')}'
file() { printf '%s/%s' "$images" "$(printf '%s' "$1" | tr '/:' '__')"; }
case "$1" in
  load) while read -r name version; do printf '%s\\n' "$version" > "$(file "$name")"; echo "Loaded image: $name"; done ;;
  image) [ "$2" = inspect ] && [ -f "$(file "$3")" ] ;;
  tag) cp "$(file "$2")" "$(file "$3")" ;;
  compose)
    case " $* " in
      *" up "*) if [ -f '${join(dir, 'fail-next-up')}' ]; then rm '${join(dir, 'fail-next-up')}'; echo 'container modbus-poller is unhealthy' >&2; exit 1; fi ;;
    esac ;;
esac
`,
    );
    // The build machine's docker: builds nothing, and `save` streams "name version" lines instead of a tarball.
    writeScript(
      join(dir, 'local-bin', 'docker'),
      `#!/bin/sh
printf '%s\\n' "$*" >> '${localLog()}'
if [ "$1" = save ]; then shift; for i in "$@"; do printf '%s %s\\n' "$i" "\${FAKE_IMAGE_VERSION:-v1}"; done; fi
`,
    );

    const port = await freePort();
    const user = userInfo().username;
    const config = join(dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `ListenAddress 127.0.0.1:${port}`,
        `HostKey ${join(dir, 'host_key')}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        // The key files live in a temp folder under /tmp (world-writable), which strict modes would refuse.
        'StrictModes no',
        'UsePAM no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PubkeyAuthentication yes',
        'PermitRootLogin prohibit-password',
        `AllowUsers ${user}`,
        // The target's PATH: the fake docker first (the real CLI may be installed, without an engine).
        `SetEnv PATH=${join(dir, 'remote-bin')}:/usr/local/bin:/usr/bin:/bin`,
        'LogLevel ERROR',
        '',
      ].join('\n'),
    );
    // Privilege separation directory; a Debian package install without systemd does not create it.
    if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const check = spawnSync(sshdBin, ['-t', '-f', config], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    sshd = spawn(sshdBin, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    sshd.stderr?.on('data', (chunk: Buffer) => (sshdLog += chunk.toString()));
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect({ host: '127.0.0.1', port }, () => {
            socket.destroy();
            resolve(true);
          });
          socket.on('error', () => resolve(false));
        }),
      { timeoutMs: 10_000, message: `sshd on 127.0.0.1:${port} (${sshdLog})` },
    );

    const hostKey = readFileSync(join(dir, 'host_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`);
    writeFileSync(
      join(dir, 'ssh_config'),
      [
        'Host gateway-test',
        '  HostName 127.0.0.1',
        `  Port ${port}`,
        `  User ${user}`,
        `  IdentityFile ${join(dir, 'client_key')}`,
        '  IdentitiesOnly yes',
        `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
        '  GlobalKnownHostsFile /dev/null',
        '  StrictHostKeyChecking yes',
        '  LogLevel ERROR',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'site.env'), 'NATS_PASS_MODBUS_POLLER=secret\n');
  }, 30_000);

  afterAll(async () => {
    if (sshd && sshd.exitCode === null) {
      const exited = new Promise((resolve) => sshd?.once('exit', resolve));
      sshd.kill('SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const deploy = (version: string, ...extra: string[]) => {
    for (const log of [remoteLog(), localLog()]) rmSync(log, { force: true });
    const result = spawnSync(
      'bash',
      [
        DEPLOY,
        '--ssh-config',
        join(dir, 'ssh_config'),
        '--dir',
        target(),
        '--config',
        join(ROOT, 'docker', 'config'),
        '--env-file',
        join(dir, 'site.env'),
        '--timeout',
        '60',
        ...extra,
        'gateway-test',
      ],
      {
        encoding: 'utf8',
        timeout: 60_000,
        env: {
          ...process.env,
          PATH: `${join(dir, 'local-bin')}:${process.env['PATH'] ?? ''}`,
          FAKE_IMAGE_VERSION: version,
        },
      },
    );
    const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);
    return { ...result, remote: read(remoteLog()), local: read(localLog()) };
  };
  const version = (name: string) => (existsSync(image(name)) ? readFileSync(image(name), 'utf8').trim() : undefined);

  it('a first deploy builds, ships the images, copies compose, nats.conf, the config and .env, and starts', () => {
    const result = deploy('v1');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.local).toEqual([
      ...SERVICES.map(
        (s) =>
          `buildx build --platform linux/arm64 -f docker/Dockerfile --target ${s} -t voltimax/${s}:latest --load .`,
      ),
      `save ${SERVICES.map((s) => `voltimax/${s}:latest`).join(' ')}`,
    ]);
    for (const s of SERVICES) {
      expect(version(`voltimax/${s}:latest`)).toBe('v1');
      expect(version(`voltimax/${s}:previous`)).toBeUndefined();
    }
    expect(readFileSync(join(target(), 'compose.yaml'), 'utf8')).toBe(readFileSync(join(ROOT, 'compose.yaml'), 'utf8'));
    expect(readFileSync(join(target(), 'docker', 'nats', 'nats.conf'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'docker', 'nats', 'nats.conf'), 'utf8'),
    );
    expect(existsSync(join(target(), 'config', 'assets.sim.json'))).toBe(true);
    expect(readFileSync(join(target(), '.env'), 'utf8')).toBe('NATS_PASS_MODBUS_POLLER=secret\n');
    expect(statSync(join(target(), '.env')).mode & 0o077).toBe(0);
    expect(result.remote).toEqual(
      expect.arrayContaining([
        'load',
        `compose -f ${target()}/compose.yaml up -d --no-build --remove-orphans --wait --wait-timeout 60`,
        `compose -f ${target()}/compose.yaml ps`,
      ]),
    );
  }, 60_000);

  it('a failed start rolls back to the images tagged :previous and the previous compose.yaml', () => {
    appendFileSync(join(target(), 'compose.yaml'), '# the compose file that ran before\n');
    writeFileSync(join(dir, 'fail-next-up'), '');
    const result = deploy('v2');
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('==> not healthy: rolling back to the previous images on gateway-test');
    expect(result.stdout).toContain('==> rolled back');
    for (const s of SERVICES) {
      expect(version(`voltimax/${s}:previous`)).toBe('v1');
      expect(version(`voltimax/${s}:latest`)).toBe('v1');
    }
    expect(readFileSync(join(target(), 'compose.yaml'), 'utf8')).toContain('# the compose file that ran before');
    expect(result.remote.filter((line) => / up -d /.test(line))).toHaveLength(2);
  }, 60_000);

  it('a good deploy keeps the one before as :previous', () => {
    const result = deploy('v3');
    expect(result.status).toBe(0);
    for (const s of SERVICES) {
      expect(version(`voltimax/${s}:latest`)).toBe('v3');
      expect(version(`voltimax/${s}:previous`)).toBe('v1');
    }
  }, 60_000);

  it('a changed nats.conf recreates nats before the services start (the running server would keep the old permissions)', () => {
    appendFileSync(join(target(), 'docker', 'nats', 'nats.conf'), '# the permissions that ran before\n');
    const result = deploy('v2b');
    expect(result.status).toBe(0);
    const ups = result.remote.filter((line) => / up -d /.test(line));
    expect(ups).toEqual([
      `compose -f ${target()}/compose.yaml up -d --no-deps --force-recreate nats`,
      `compose -f ${target()}/compose.yaml up -d --no-build --remove-orphans --wait --wait-timeout 60`,
    ]);
    // An unchanged file does not restart it.
    const again = deploy('v2c');
    expect(again.remote.filter((line) => / up -d /.test(line))).toEqual([
      `compose -f ${target()}/compose.yaml up -d --no-build --remove-orphans --wait --wait-timeout 60`,
    ]);
  }, 60_000);

  it('exits 3 when the start fails and there is nothing to roll back to', () => {
    rmSync(join(dir, 'remote-images'), { recursive: true });
    mkdirSync(join(dir, 'remote-images'));
    writeFileSync(join(dir, 'fail-next-up'), '');
    const result = deploy('v4');
    expect(result.status).toBe(3);
    expect(result.stderr).toContain('no previous images: nothing to roll back to');
  }, 60_000);
});
