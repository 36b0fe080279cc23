/** Holding-register addresses where SunSpec devices put the `SunS` marker, in the order to try them. */
export const SUNSPEC_BASE_ADDRESSES: readonly number[] = [40000, 50000, 0];

/** "SunS" as two registers: 0x5375 ('S','u'), 0x6E53 ('n','S'). */
export const SUNSPEC_MARKER: readonly [number, number] = [0x5375, 0x6e53];

/** Model id of the end marker that closes the chain. */
export const SUNSPEC_END_MODEL_ID = 0xffff;

/** At most this many models are walked before the chain is declared broken (guards against a looping image). */
export const SUNSPEC_MAX_MODELS = 128;

/** True when the two words are the SunSpec marker `SunS`. */
export function isSunSpecMarker(words: readonly number[]): boolean {
  return words[0] === SUNSPEC_MARKER[0] && words[1] === SUNSPEC_MARKER[1];
}

/** Where one model sits: `address` is its `ID` register; its body (`length` registers) follows `L`. */
export interface SunSpecModelLocation {
  readonly id: number;
  readonly address: number;
  /** `L`: registers after `ID` and `L`. */
  readonly length: number;
}

/** Registers of the model including `ID` and `L`. */
export function modelSpan(location: SunSpecModelLocation): number {
  return location.length + 2;
}

/** Why a chain could not be walked to its end model. */
export type BrokenChainReason = 'address-overflow' | 'too-many-models' | 'read-failed';

/** The outcome of walking a register image. */
export type ModelChainResult =
  | { readonly kind: 'no-marker'; readonly baseAddress: number }
  | {
      readonly kind: 'complete';
      readonly baseAddress: number;
      readonly models: readonly SunSpecModelLocation[];
      readonly endAddress: number;
    }
  | {
      readonly kind: 'truncated';
      readonly baseAddress: number;
      readonly models: readonly SunSpecModelLocation[];
      readonly nextAddress: number;
    }
  | {
      readonly kind: 'broken';
      readonly baseAddress: number;
      readonly models: readonly SunSpecModelLocation[];
      readonly reason: BrokenChainReason;
    };

type HeaderStep =
  | { readonly kind: 'end'; readonly endAddress: number }
  | { readonly kind: 'model'; readonly location: SunSpecModelLocation; readonly next: number }
  | { readonly kind: 'broken'; readonly reason: BrokenChainReason };

function readHeader(address: number, id: number, length: number, modelsSoFar: number): HeaderStep {
  if (id === SUNSPEC_END_MODEL_ID) return { kind: 'end', endAddress: address };
  if (modelsSoFar >= SUNSPEC_MAX_MODELS) return { kind: 'broken', reason: 'too-many-models' };
  const next = address + 2 + length;
  if (next > 0xffff) return { kind: 'broken', reason: 'address-overflow' };
  return { kind: 'model', location: { id, address, length }, next };
}

/**
 * Pure: walks the model chain in `words`, which holds consecutive holding registers starting at
 * `baseAddress` (marker first). Returns every model header up to the end model (`complete`), or the
 * models seen and the next address to read when the image ends first (`truncated`).
 */
export function parseModelChain(words: readonly number[], baseAddress: number): ModelChainResult {
  if (!isSunSpecMarker(words)) return { kind: 'no-marker', baseAddress };
  const models: SunSpecModelLocation[] = [];
  let address = baseAddress + 2;
  for (;;) {
    const offset = address - baseAddress;
    const id = words[offset];
    const length = words[offset + 1];
    if (id === undefined || (length === undefined && id !== SUNSPEC_END_MODEL_ID)) {
      return { kind: 'truncated', baseAddress, models, nextAddress: address };
    }
    const step = readHeader(address, id, length ?? 0, models.length);
    if (step.kind === 'end') return { kind: 'complete', baseAddress, models, endAddress: step.endAddress };
    if (step.kind === 'broken') return { kind: 'broken', baseAddress, models, reason: step.reason };
    models.push(step.location);
    address = step.next;
  }
}

/** A holding-register read the I/O side must perform, carrying the discovery state. */
export interface SunSpecReadStep {
  readonly kind: 'read';
  readonly table: 'holding';
  readonly address: number;
  readonly count: number;
  /** Internal state; pass the whole step back to `nextSunSpecDiscoveryStep`. */
  readonly state: SunSpecDiscoveryState;
}

/** Discovery state between reads (opaque to callers, plain data). */
export interface SunSpecDiscoveryState {
  readonly baseAddresses: readonly number[];
  readonly baseIndex: number;
  readonly phase: 'marker' | 'header';
  readonly models: readonly SunSpecModelLocation[];
}

/** Where discovery ends. */
export type SunSpecDiscoveryStep =
  | SunSpecReadStep
  | {
      readonly kind: 'found';
      readonly baseAddress: number;
      readonly models: readonly SunSpecModelLocation[];
      readonly endAddress: number;
    }
  | { readonly kind: 'not-found'; readonly triedBaseAddresses: readonly number[] }
  | {
      readonly kind: 'broken';
      readonly baseAddress: number;
      readonly models: readonly SunSpecModelLocation[];
      readonly reason: BrokenChainReason;
    };

/** The I/O side's answer to a read step: the words, or a failure (exception response, timeout). */
export type SunSpecReadResponse =
  | { readonly kind: 'words'; readonly words: readonly number[] }
  | { readonly kind: 'error'; readonly detail?: string };

function markerStep(baseAddresses: readonly number[], baseIndex: number): SunSpecDiscoveryStep {
  const address = baseAddresses[baseIndex];
  if (address === undefined) return { kind: 'not-found', triedBaseAddresses: baseAddresses };
  // Marker plus the first model header in one request.
  return {
    kind: 'read',
    table: 'holding',
    address,
    count: 4,
    state: { baseAddresses, baseIndex, phase: 'marker', models: [] },
  };
}

/**
 * Pure step machine for SunSpec discovery; the Modbus side performs the reads:
 *
 * ```ts
 * let step = planSunSpecDiscovery();
 * while (step.kind === 'read') step = nextSunSpecDiscoveryStep(step, await read(step.address, step.count));
 * ```
 *
 * It tries each base address (default `SUNSPEC_BASE_ADDRESSES`) for the marker, then reads one model
 * header (`ID`, `L`) at a time until the end model.
 */
export function planSunSpecDiscovery(baseAddresses: readonly number[] = SUNSPEC_BASE_ADDRESSES): SunSpecDiscoveryStep {
  return markerStep(baseAddresses, 0);
}

/** Pure: the next step after the I/O side answered `step`. */
export function nextSunSpecDiscoveryStep(step: SunSpecReadStep, response: SunSpecReadResponse): SunSpecDiscoveryStep {
  const { state } = step;
  const baseAddress = state.baseAddresses[state.baseIndex] ?? step.address;
  if (state.phase === 'marker') {
    if (response.kind === 'error' || !isSunSpecMarker(response.words))
      return markerStep(state.baseAddresses, state.baseIndex + 1);
    return headerStep(state, baseAddress, step.address + 2, response.words.slice(2, 4), [], true);
  }
  if (response.kind === 'error') return { kind: 'broken', baseAddress, models: state.models, reason: 'read-failed' };
  return headerStep(state, baseAddress, step.address, response.words.slice(0, 2), state.models, false);
}

function headerStep(
  state: SunSpecDiscoveryState,
  baseAddress: number,
  address: number,
  header: readonly number[],
  models: readonly SunSpecModelLocation[],
  askAgainIfShort: boolean,
): SunSpecDiscoveryStep {
  const [id, length] = header;
  if (id === undefined || (length === undefined && id !== SUNSPEC_END_MODEL_ID)) {
    // A short marker answer: read the first header on its own. A short header answer: give up.
    if (!askAgainIfShort) return { kind: 'broken', baseAddress, models, reason: 'read-failed' };
    return { kind: 'read', table: 'holding', address, count: 2, state: { ...state, phase: 'header', models } };
  }
  const next = readHeader(address, id, length ?? 0, models.length);
  if (next.kind === 'end') return { kind: 'found', baseAddress, models, endAddress: next.endAddress };
  if (next.kind === 'broken') return { kind: 'broken', baseAddress, models, reason: next.reason };
  return {
    kind: 'read',
    table: 'holding',
    address: next.next,
    count: 2,
    state: { ...state, phase: 'header', models: [...models, next.location] },
  };
}
