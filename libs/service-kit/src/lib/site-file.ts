import { readFileSync } from 'node:fs';
import { formatIssues, SiteConfigSchema, type SiteConfig, type ValidationProblem } from '@voltimax/contracts';
import { z } from 'zod';

/** Reads a file as UTF-8 text; injectable so a schema can be tested without a disk. */
export type ReadTextFile = (path: string) => string;

/** The default ReadTextFile: the file from disk, as UTF-8. */
export const readUtf8File: ReadTextFile = (path) => readFileSync(path, 'utf8');

/** assets.json, read and validated: the site configuration and the raw JSON it came from. */
export interface LoadedSiteFile {
  readonly path: string;
  readonly site: SiteConfig;
  /** The parsed JSON before validation (for services that rewrite or re-hash the file). */
  readonly raw: unknown;
}

/**
 * Why a site file was refused: `unreadable` and `not-json` carry one problem at `$` whose message names the file;
 * `invalid` carries every SiteConfigSchema problem with its JSON path.
 */
export type SiteFileFailure = {
  readonly ok: false;
  readonly reason: 'unreadable' | 'not-json' | 'invalid';
  readonly problems: readonly ValidationProblem[];
};

/** Either the validated site or every problem with its JSON path. */
export type SiteFileOutcome = ({ readonly ok: true } & LoadedSiteFile) | SiteFileFailure;

/** Reads assets.json, parses the JSON and validates it against SiteConfigSchema. Never throws. */
export function loadSiteConfig(path: string, readTextFile: ReadTextFile = readUtf8File): SiteFileOutcome {
  let text: string;
  try {
    text = readTextFile(path);
  } catch (err) {
    const message = `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    return { ok: false, reason: 'unreadable', problems: [{ path: '$', message }] };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const message = `${path} is not valid JSON: ${(err as Error).message}`;
    return { ok: false, reason: 'not-json', problems: [{ path: '$', message }] };
  }
  const parsed = SiteConfigSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, reason: 'invalid', problems: formatIssues(parsed.error.issues) };
  return { ok: true, path, site: parsed.data, raw };
}

/**
 * One line per problem of a refused site file, for an environment variable's error list: a read or JSON problem as
 * is (its message names the file), a schema problem as `<file> <json path>: <message>`.
 */
export function siteFileMessages(path: string, failure: SiteFileFailure): string[] {
  return failure.reason === 'invalid'
    ? failure.problems.map((p) => `${path} ${p.path}: ${p.message}`)
    : failure.problems.map((p) => p.message);
}

/**
 * A zod schema for an environment variable naming assets.json (usually SITE_FILE): reads and validates the file
 * while the environment is parsed, so a missing or invalid file is listed with every other bad variable and the
 * service exits 78 before anything connects. Output: the path, the validated site and the raw JSON.
 */
export function siteFileEnv(readTextFile: ReadTextFile = readUtf8File) {
  return z
    .string()
    .min(1)
    .transform((path, ctx): LoadedSiteFile => {
      const loaded = loadSiteConfig(path, readTextFile);
      if (loaded.ok) return { path: loaded.path, site: loaded.site, raw: loaded.raw };
      for (const message of siteFileMessages(path, loaded)) ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    });
}
