import { SiteConfigSchema, formatIssues, type SiteConfig, type ValidationProblem } from '@voltimax/contracts';
import { siteProfileProblems } from '@voltimax/devices';
import { assetSafetyLimits, slowPollProblem } from '@voltimax/safety';
import { parseSiteStrategies, touScheduleIssues, type TouScheduleStretch } from '@voltimax/strategies';
import { CliExit, type CliIo } from '../io';

export type ValidationOutcome =
  | { readonly ok: true; readonly site: SiteConfig }
  | { readonly ok: false; readonly problems: readonly ValidationProblem[] };

/** Parse and validate the text of an assets.json file; every problem comes with its JSON path. */
export function validateSiteConfigText(text: string): ValidationOutcome {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problems: [{ path: '$', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const result = SiteConfigSchema.safeParse(json);
  if (!result.success) return { ok: false, problems: formatIssues(result.error.issues) };
  // Profiles must exist and fit the asset; strategy blocks are validated by each strategy's own schema.
  const problems = [...siteProfileProblems(result.data), ...parseSiteStrategies(result.data).problems];
  return problems.length === 0 ? { ok: true, site: result.data } : { ok: false, problems };
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function hhmm(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

function stretches(list: readonly TouScheduleStretch[]): string {
  const shown = list
    .slice(0, 4)
    .map((g) => `${WEEKDAYS[g.weekday] ?? g.weekday} ${hhmm(g.fromMinute)}–${hhmm(g.toMinute)}`);
  return list.length > 4 ? `${shown.join(', ')} and ${list.length - 4} more` : shown.join(', ');
}

/**
 * What is valid but probably not meant, as `path: message` notes (exit 0): a time-of-use tariff without periods, ToU
 * periods that leave parts of the week uncovered or cover a minute twice at different prices, a peak threshold the
 * import never reaches, an asset the arbiter checks polled too slowly for its staleness limit.
 */
export function siteConfigNotes(site: SiteConfig): ValidationProblem[] {
  const notes: ValidationProblem[] = [];
  const periods = site.tariff.touPeriods ?? [];
  if (site.tariff.kind === 'time-of-use' && periods.length === 0) {
    notes.push({
      path: '$.tariff.touPeriods',
      message:
        'a time-of-use tariff without periods: time-of-use idles (no-tou-schedule) and prices fall back to fixedEurPerMwh',
    });
  }
  const { gaps, overlaps } = touScheduleIssues(site.tariff);
  if (gaps.length > 0) {
    notes.push({
      path: '$.tariff.touPeriods',
      message: `no period covers ${stretches(gaps)}: time-of-use falls back to its neutral mode there (no-tou-period) and its plan stops at the first one`,
    });
  }
  if (overlaps.length > 0) {
    notes.push({
      path: '$.tariff.touPeriods',
      message: `periods with different prices overlap on ${stretches(overlaps)}: the first listed applies`,
    });
  }
  // A peak threshold at or above the connection's import limit is never reached (the arbiter holds the import under
  // the limit): peak-shaving would only ever recharge.
  const peak = site.strategy.config['peak-shaving'] as { thresholdW?: unknown } | undefined;
  if (typeof peak?.thresholdW === 'number' && peak.thresholdW >= site.grid.maxImportW) {
    notes.push({
      path: '$.strategy.config["peak-shaving"].thresholdW',
      message: `${peak.thresholdW} W is at or above grid.maxImportW (${site.grid.maxImportW} W): peak-shaving never shaves`,
    });
  }
  // The arbiter's defaults (stale after 1.5 poll intervals, at most 5 s): an asset it writes to, or the grid meter,
  // polled more slowly than that flips to its safe setpoint between polls.
  site.assets.forEach((asset, index) => {
    if (!asset.enabled || (asset.kind !== 'grid-meter' && assetSafetyLimits(asset) === undefined)) return;
    const problem = slowPollProblem(asset.id, asset.pollIntervalMs);
    if (problem !== undefined) notes.push({ path: `$.assets[${index}].pollIntervalMs`, message: problem });
  });
  return notes;
}

/** `voltimax config validate <file>`: exit 0 when valid, 1 with one line per problem otherwise, 2 if unreadable. */
export async function configValidate(io: CliIo, file: string, opts: { json?: boolean }): Promise<void> {
  let text: string;
  try {
    text = await io.readFile(file);
  } catch (err) {
    io.stderr(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    throw new CliExit(2);
  }
  const outcome = validateSiteConfigText(text);
  const notes = outcome.ok ? siteConfigNotes(outcome.site) : [];
  if (opts.json) {
    io.stdout(
      `${JSON.stringify(outcome.ok ? { ok: true, ...(notes.length > 0 ? { notes } : {}) } : { ok: false, problems: outcome.problems })}\n`,
    );
  } else if (outcome.ok) {
    const { site } = outcome;
    io.stdout(
      `${file}: valid — gateway ${site.gatewayId}, ${site.assets.length} assets (${site.assets.map((a) => `${a.id}:${a.kind}`).join(', ')}), strategies ${site.strategy.active.join(' > ')}\n`,
    );
    for (const note of notes) io.stdout(`  note: ${note.path}: ${note.message}\n`);
  } else {
    io.stderr(`${file}: ${outcome.problems.length} problem${outcome.problems.length === 1 ? '' : 's'}\n`);
    for (const problem of outcome.problems) io.stderr(`  ${problem.path}: ${problem.message}\n`);
  }
  if (!outcome.ok) throw new CliExit(1);
}
