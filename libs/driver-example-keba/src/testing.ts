// A KEBA KeContact P30 on a UDP socket for tests: it answers the commands of the UDP Programmers Guide V2.01 the way
// the guide describes (reports 1–3, currtime, ena), keeps its rules (commands closer than t_UDP_pause, or t_DIS_pause
// after a disabling one, are dropped unanswered), and sends status messages to the last commander on changes.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

/** One command the double received. */
export interface ReceivedCommand {
  readonly text: string;
  readonly atMs: number;
  /** False when the double dropped it for coming too soon. */
  readonly answered: boolean;
}

const STATUS_KEYS = ['State', 'Plug', 'Input', 'Enable sys', 'Max curr', 'E pres'] as const;

/** The station's registers as its reports name them (report 2 and report 3 fields). */
export type StationFields = Record<string, number | string>;

export class KebaStationDouble {
  readonly commands: ReceivedCommand[] = [];
  /** Stop answering anything (a station that went away). */
  silent = false;
  /** Answer every report with this text instead (garbage on the wire). */
  garbage: string | undefined;
  readonly fields: StationFields = {
    State: 2,
    Error1: 0,
    Error2: 0,
    Plug: 7,
    AuthON: 0,
    Authreq: 0,
    'Enable sys': 1,
    'Enable user': 1,
    'Max curr': 16_000,
    'Max curr %': 266,
    'Curr HW': 32_000,
    'Curr user': 16_000,
    'Curr FS': 0,
    'Tmo FS': 0,
    'Curr timer': 0,
    'Tmo CT': 0,
    Setenergy: 0,
    Output: 0,
    Input: 0,
    U1: 231,
    U2: 229,
    U3: 230,
    I1: 0,
    I2: 0,
    I3: 0,
    P: 0,
    PF: 0,
    'E pres': 12_345,
    'E total': 98_765_432,
    Serial: '22334455',
    Sec: 4_242,
  };
  private lastCommander: RemoteInfo | undefined;
  private lastAnsweredMs = Number.NEGATIVE_INFINITY;
  private pauseMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(private readonly socket: Socket) {
    socket.on('message', (data, rinfo) => this.onCommand(data.toString('latin1'), rinfo));
  }

  static start(host = '127.0.0.1'): Promise<KebaStationDouble> {
    const socket = createSocket('udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => {
        socket.off('error', reject);
        resolve(new KebaStationDouble(socket));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Changes fields as the station would (a car plugged in, power flowing …) and reports what changed to the commander. */
  change(fields: StationFields): void {
    const before = { ...this.fields };
    Object.assign(this.fields, fields);
    this.sendStatus(before);
  }

  close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private reply(text: string, to: RemoteInfo): void {
    this.socket.send(Buffer.from(text, 'latin1'), to.port, to.address);
  }

  private report(id: number, keys: readonly string[]): string {
    const members = [`"ID": "${id}"`, ...keys.map((k) => `"${k}": ${JSON.stringify(this.fields[k])}`)];
    // The guide's own samples end with a comma before the closing brace; so does this double.
    return `{\n${members.join(',\n')},\n}`;
  }

  private onCommand(text: string, from: RemoteInfo): void {
    const nowMs = Date.now();
    const tooSoon = nowMs - this.lastAnsweredMs < this.pauseMs;
    this.commands.push({ text, atMs: nowMs, answered: !this.silent && !tooSoon });
    if (this.silent || tooSoon) return;
    this.lastAnsweredMs = nowMs;
    this.pauseMs = 100;
    this.lastCommander = from;
    const [name, ...args] = text.trim().split(/\s+/);
    if (this.garbage !== undefined && name === 'report') {
      this.reply(this.garbage, from);
      return;
    }
    switch (`${name} ${args[0] ?? ''}`.trim()) {
      case 'i':
        this.reply('"Firmware":"P30 v 3.10.16 (200724-113310)"', from);
        return;
      case 'report 1':
        this.reply(
          `{"ID": "1", "Product": "KC-P30-EC240422-E00", "Serial": "${String(this.fields['Serial'])}", "Firmware": "P30 v 3.10.16", "COM-module": 0, "Sec": ${String(this.fields['Sec'])}}`,
          from,
        );
        return;
      case 'report 2':
        this.reply(
          this.report(2, [
            'State',
            'Error1',
            'Error2',
            'Plug',
            'AuthON',
            'Authreq',
            'Enable sys',
            'Enable user',
            'Max curr',
            'Max curr %',
            'Curr HW',
            'Curr user',
            'Curr FS',
            'Tmo FS',
            'Curr timer',
            'Tmo CT',
            'Setenergy',
            'Output',
            'Input',
            'Serial',
            'Sec',
          ]),
          from,
        );
        return;
      case 'report 3':
        this.reply(
          this.report(3, ['U1', 'U2', 'U3', 'I1', 'I2', 'I3', 'P', 'PF', 'E pres', 'E total', 'Serial', 'Sec']),
          from,
        );
        return;
      default:
        break;
    }
    if (name === 'currtime' && args.length === 2) {
      const milliAmps = Number(args[0]);
      const delayS = Number(args[1]);
      this.reply('TCH-OK :done', from);
      if (milliAmps === 0) this.pauseMs = 2_000;
      this.fields['Curr timer'] = milliAmps;
      this.fields['Tmo CT'] = delayS;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.applyCurrent(milliAmps);
      }, delayS * 1_000);
      this.timers.add(timer);
      return;
    }
    if (name === 'ena' && args.length === 1) {
      this.reply('TCH-OK :done', from);
      if (args[0] === '0') this.pauseMs = 2_000;
      this.change({ 'Enable user': args[0] === '1' ? 1 : 0 });
      return;
    }
    this.reply('TCH-ERR', from);
  }

  /** The delay of a currtime ran out: the current becomes the user setting and the car follows it. */
  private applyCurrent(milliAmps: number): void {
    const hardware = Number(this.fields['Curr HW']);
    const offered = milliAmps === 0 ? 0 : Math.min(milliAmps, hardware);
    const plugged = this.fields['Plug'] === 7;
    this.fields['Curr user'] = milliAmps;
    this.fields['Curr timer'] = 0;
    this.fields['Tmo CT'] = 0;
    this.change({
      'Max curr': offered,
      State: plugged ? (offered > 0 ? 3 : 5) : 1,
      I1: offered,
      I2: offered,
      I3: offered,
      // Three phases at 230 V, in mW.
      P: plugged ? offered * 690 : 0,
    });
  }

  private sendStatus(before: StationFields): void {
    const to = this.lastCommander;
    if (to === undefined || this.silent) return;
    for (const key of STATUS_KEYS) {
      if (before[key] !== this.fields[key]) this.reply(`{"${key}": ${JSON.stringify(this.fields[key])}}`, to);
    }
  }
}
