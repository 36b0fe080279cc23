import { SiteConfigSchema, formatIssues, type SiteConfig, type ValidationProblem } from '@voltimax/contracts';
import { siteProfileProblems } from '@voltimax/devices';
import { parseSiteStrategies } from '@voltimax/strategies';
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
  if (opts.json) {
    io.stdout(`${JSON.stringify(outcome.ok ? { ok: true } : { ok: false, problems: outcome.problems })}\n`);
  } else if (outcome.ok) {
    const { site } = outcome;
    io.stdout(
      `${file}: valid — gateway ${site.gatewayId}, ${site.assets.length} assets (${site.assets.map((a) => `${a.id}:${a.kind}`).join(', ')}), strategies ${site.strategy.active.join(' > ')}\n`,
    );
  } else {
    io.stderr(`${file}: ${outcome.problems.length} problem${outcome.problems.length === 1 ? '' : 's'}\n`);
    for (const problem of outcome.problems) io.stderr(`  ${problem.path}: ${problem.message}\n`);
  }
  if (!outcome.ok) throw new CliExit(1);
}
