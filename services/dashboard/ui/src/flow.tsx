// The live power-flow picture: grid, PV, battery (with SoC), home and each charger around the site's busbar.
import type { FlowSource, PowerFlow } from './types';
import { formatPct, formatPower } from './format';

/** Which way power moves on a line: towards the hub, away from it, or not at all. */
type Direction = 'in' | 'out' | 'idle';

interface NodeProps {
  readonly id: string;
  readonly label: string;
  readonly x: number;
  readonly y: number;
  readonly powerW: number | null;
  readonly direction: Direction;
  readonly caption: string;
  readonly sources: readonly FlowSource[];
  readonly extra?: string;
  readonly extraTestId?: string;
  readonly extraValue?: number | null;
}

const HUB = { x: 300, y: 170 };
/** Below this, a line counts as idle, W. */
const IDLE_W = 20;

function direction(powerW: number | null, positiveIsIn: boolean): Direction {
  if (powerW === null || Math.abs(powerW) < IDLE_W) return 'idle';
  return powerW > 0 === positiveIsIn ? 'in' : 'out';
}

function FlowNode(props: NodeProps) {
  const width = Math.min(10, 2 + Math.abs(props.powerW ?? 0) / 1_000);
  return (
    <g class={`flow-node flow-${props.direction}`}>
      <line
        class={`flow-line flow-line-${props.direction}`}
        x1={props.direction === 'out' ? HUB.x : props.x}
        y1={props.direction === 'out' ? HUB.y : props.y}
        x2={props.direction === 'out' ? props.x : HUB.x}
        y2={props.direction === 'out' ? props.y : HUB.y}
        stroke-width={width}
      />
      <circle class="flow-circle" cx={props.x} cy={props.y} r={42} />
      <text class="flow-label" x={props.x} y={props.y - 12} text-anchor="middle">
        {props.label}
      </text>
      <text
        class="flow-value"
        x={props.x}
        y={props.y + 8}
        text-anchor="middle"
        data-testid={`flow-${props.id}`}
        data-w={props.powerW === null ? '' : String(props.powerW)}
        data-sources={JSON.stringify(props.sources)}
      >
        {formatPower(props.powerW === null ? null : Math.abs(props.powerW))}
      </text>
      <text class="flow-caption" x={props.x} y={props.y + 24} text-anchor="middle">
        {props.caption}
      </text>
      {props.extra !== undefined && (
        <text
          class="flow-extra"
          x={props.x}
          y={props.y + 60}
          text-anchor="middle"
          data-testid={props.extraTestId}
          data-pct={props.extraValue === null || props.extraValue === undefined ? '' : String(props.extraValue)}
        >
          {props.extra}
        </text>
      )}
    </g>
  );
}

/** The flow picture plus one row per battery and charger. */
export function PowerFlowView({ flow }: { readonly flow: PowerFlow }) {
  const grid = direction(flow.gridW, true);
  const battery = direction(flow.batteryW, true);
  return (
    <section class="card flow-card">
      <h2>Power flow</h2>
      <svg class="flow" viewBox="0 0 600 360" role="img" aria-label="site power flow">
        <circle class="flow-hub" cx={HUB.x} cy={HUB.y} r={10} />
        <FlowNode
          id="pv"
          label="Solar"
          x={300}
          y={50}
          powerW={flow.pvW}
          direction={direction(flow.pvW, true)}
          caption={flow.pvW === null ? 'no data' : 'producing'}
          sources={flow.sources.pv}
        />
        <FlowNode
          id="grid"
          label="Grid"
          x={80}
          y={170}
          powerW={flow.gridW}
          direction={grid}
          caption={
            flow.gridW === null ? 'no data' : grid === 'in' ? 'importing' : grid === 'out' ? 'exporting' : 'idle'
          }
          sources={flow.sources.grid}
        />
        <FlowNode
          id="load"
          label="Home"
          x={520}
          y={170}
          powerW={flow.loadW}
          direction={direction(flow.loadW, false)}
          caption={flow.loadSource === 'derived' ? 'from the balance' : flow.loadW === null ? 'no data' : 'consuming'}
          sources={flow.sources.load}
        />
        <FlowNode
          id="battery"
          label="Battery"
          x={180}
          y={290}
          powerW={flow.batteryW}
          direction={battery}
          caption={
            flow.batteryW === null
              ? 'no data'
              : battery === 'in'
                ? 'discharging'
                : battery === 'out'
                  ? 'charging'
                  : 'idle'
          }
          sources={flow.sources.battery}
          extra={`SoC ${formatPct(flow.socPct)}`}
          extraTestId="flow-soc"
          extraValue={flow.socPct}
        />
        {(flow.chargers.length > 0 || flow.evW !== null) && (
          <FlowNode
            id="ev"
            label="EV"
            x={420}
            y={290}
            powerW={flow.evW}
            direction={direction(flow.evW, false)}
            caption={flow.evW === null ? 'no data' : Math.abs(flow.evW) < IDLE_W ? 'idle' : 'charging'}
            sources={flow.sources.ev}
          />
        )}
      </svg>
      {(flow.batteries.length > 1 || flow.chargers.length > 0) && (
        <table class="flow-assets">
          <tbody>
            {flow.batteries.map((b) => (
              <tr key={b.assetId} data-testid={`battery-${b.assetId}`} class={b.isStale ? 'stale' : ''}>
                <td>{b.name}</td>
                <td>{formatPower(b.powerW)}</td>
                <td>SoC {formatPct(b.socPct)}</td>
              </tr>
            ))}
            {flow.chargers.map((c) => (
              <tr key={c.assetId} data-testid={`charger-${c.assetId}`} class={c.isStale ? 'stale' : ''}>
                <td>{c.name}</td>
                <td>{formatPower(c.powerW)}</td>
                <td>
                  {c.state ?? '—'}
                  {c.currentLimitA === null ? '' : ` · ${c.currentLimitA} A`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
