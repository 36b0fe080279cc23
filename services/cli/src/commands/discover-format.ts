// Output of `voltimax discover`: the progress line (a bar on a terminal, plain lines otherwise) and the table.
import type { Candidate, DiscoveryRun, ScanProgress } from '@voltimax/discovery';
import { formatTable } from './device-modbus';

/** Shows scan progress: a redrawn bar on a TTY; otherwise a plain line at every tenth of the range. */
export function progressPrinter(
  write: (text: string) => void,
  isTty: boolean,
): {
  readonly update: (progress: ScanProgress) => void;
  readonly done: () => void;
} {
  let lastTenth = 0;
  let drawn = false;
  return {
    update(p) {
      if (isTty) {
        const width = 30;
        const filled = Math.round((p.hostsDone / p.hostsTotal) * width);
        write(
          `\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.hostsDone}/${p.hostsTotal} hosts, ${p.found} found`,
        );
        drawn = true;
        return;
      }
      const tenth = Math.floor((p.hostsDone / p.hostsTotal) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        write(`scanned ${p.hostsDone}/${p.hostsTotal} hosts, ${p.found} found\n`);
      }
    },
    done() {
      if (drawn) write('\n');
      drawn = false;
    },
  };
}

function identity(c: Candidate): string {
  const { manufacturer, model, serial, mac } = c.identity;
  return [
    [manufacturer, model].filter(Boolean).join(' '),
    serial ? `SN ${serial}` : '',
    !serial && mac ? `MAC ${mac}` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

function where(c: Candidate): string {
  const k = c.connection;
  if (!k) return c.identity.host ?? '';
  switch (k.protocol) {
    case 'modbus-tcp':
    case 'modbus-rtu-tcp':
      return `modbus ${k.host}:${k.port} unit ${k.unitId}`;
    case 'http':
      return `http ${k.baseUrl}`;
    case 'mqtt':
      return `mqtt ${k.topicPrefix}`;
    case 'plugin': {
      const address = typeof k.options['address'] === 'string' ? ` ${k.options['address']}` : '';
      const instance = typeof k.options['deviceInstance'] === 'number' ? ` device ${k.options['deviceInstance']}` : '';
      return `${k.driver}${address}${instance}`;
    }
    default:
      return k.protocol;
  }
}

/** The findings as a table (most confident first), then hints, unidentified Modbus units and source problems. */
export function formatRun(run: DiscoveryRun): string {
  const lines: string[] = [];
  if (run.candidates.length === 0) {
    lines.push('no devices found\n');
  } else {
    lines.push(
      formatTable([
        ['id', 'found by', 'kind', 'profile', 'where', 'device', 'confidence'],
        ...run.candidates.map((c) => [
          c.id,
          c.sources.join('+'),
          c.kind,
          c.profileId ?? '—',
          where(c),
          identity(c) || c.label,
          `${Math.round(c.confidence * 100)} %`,
        ]),
      ]),
    );
  }
  for (const hint of run.mdns?.hints ?? []) lines.push(`hint: ${hint.detail}\n`);
  const drivers = new Map(run.candidates.flatMap((c) => c.drivers ?? []).map((d) => [d.name, d]));
  for (const d of drivers.values())
    lines.push(
      `hint: the site needs "drivers": [{ "name": "${d.name}", "module": "${d.module}" }] for the ${d.name} findings\n`,
    );
  for (const port of run.modbus?.ports ?? []) {
    for (const unit of port.units) {
      if (unit.outcome === 'unidentified')
        lines.push(`note: ${port.host}:${port.port} unit ${unit.unitId} ${unit.detail}\n`);
    }
  }
  if (run.modbus) {
    const counts = new Map<string, number>();
    for (const port of run.modbus.ports) counts.set(port.outcome, (counts.get(port.outcome) ?? 0) + 1);
    lines.push(
      `modbus: ${run.modbus.hostsTotal} hosts, ${[...counts].map(([outcome, n]) => `${n} ${outcome}`).join(', ')}${run.modbus.aborted ? ' (aborted)' : ''}\n`,
    );
  }
  if (run.mqtt) {
    const rejected = Object.entries(run.mqtt.rejected);
    lines.push(
      `mqtt: ${run.mqtt.messages} discovery messages, ${run.mqtt.sensors} energy sensors${rejected.length > 0 ? `, rejected: ${rejected.map(([reason, n]) => `${n}× ${reason}`).join('; ')}` : ''}\n`,
    );
  }
  if (run.mdns) lines.push(`mdns: ${run.mdns.services} services, ${run.mdns.ignored.length} not energy devices\n`);
  if (run.bacnet) {
    const unread = run.bacnet.devices.filter((d) => d.error !== undefined).length;
    lines.push(
      `bacnet: ${run.bacnet.whoIsSent} Who-Is from ${run.bacnet.localAddress}, ${run.bacnet.devices.length} devices answered${unread > 0 ? `, ${unread} not readable` : ''}${run.bacnet.aborted ? ' (aborted)' : ''}\n`,
    );
    if (run.bacnet.broadcastAnswersMissed)
      lines.push(
        'bacnet: port 47808 is taken here (the driver host?): devices that answer by broadcast were not heard\n',
      );
  }
  for (const error of run.errors) lines.push(`${error.source} failed: ${error.message}\n`);
  return lines.join('');
}

/** JSON output: the candidates and each source's summary. */
export function runAsJson(run: DiscoveryRun): unknown {
  return {
    candidates: run.candidates,
    hints: run.mdns?.hints ?? [],
    modbus: run.modbus && {
      hostsTotal: run.modbus.hostsTotal,
      aborted: run.modbus.aborted,
      ports: run.modbus.ports,
    },
    mqtt: run.mqtt && {
      messages: run.mqtt.messages,
      sensors: run.mqtt.sensors,
      ignored: run.mqtt.ignored,
      rejected: run.mqtt.rejected,
      skipped: run.mqtt.skipped,
    },
    mdns: run.mdns && { services: run.mdns.services, ignored: run.mdns.ignored },
    bacnet: run.bacnet && {
      whoIsSent: run.bacnet.whoIsSent,
      localAddress: run.bacnet.localAddress,
      broadcastAnswersMissed: run.bacnet.broadcastAnswersMissed,
      aborted: run.bacnet.aborted,
      devices: run.bacnet.devices,
    },
    errors: run.errors,
  };
}
