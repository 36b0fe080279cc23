// `voltimax discover --apply`: candidates become assets of assets.json, through the same validation and atomic write
// as `voltimax assets add`.
import type { Candidate } from '@voltimax/discovery';
import { CliExit, type CliIo } from '../io';
import { assetsAdd, writeFileAtomic, type WriteFileAtomic } from './assets';
import { validateSiteConfigText } from './config-validate';

/** An asset id from the profile's model part (`eastron.sdm630` → `sdm630-1`), unique in `taken`. */
export function assetIdFor(candidate: Candidate, taken: ReadonlySet<string>): string {
  const base =
    (candidate.profileId?.split('.')[1] ?? candidate.kind)
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 48) || 'device';
  for (let n = 1; ; n += 1) {
    const id = `${base}-${n}`;
    if (!taken.has(id)) return id;
  }
}

/** The assets.json entry a candidate proposes (kind-specific limits are the installer's: validation asks for them). */
export function assetFromCandidate(candidate: Candidate, id: string): Record<string, unknown> {
  return {
    id,
    name: candidate.label.slice(0, 100),
    kind: candidate.kind,
    profile: candidate.profileId,
    connection: candidate.connection,
  };
}

/**
 * Adds the selected candidates to the site. All of them are validated together first (site schema, profiles,
 * strategies — what `voltimax config validate` checks); if the result would be invalid nothing is written and every
 * problem is printed with the asset draft to complete by hand. Otherwise each is added with `assets add` (validated
 * again and written atomically). Exit 1 for unknown ids, candidates without a profile or connection, or problems.
 */
export async function applyCandidates(
  io: CliIo,
  sitePath: string,
  candidates: readonly Candidate[],
  selected: readonly string[] | 'all',
  write: WriteFileAtomic = writeFileAtomic,
): Promise<void> {
  const picked =
    selected === 'all' ? [...candidates] : selected.map((id) => candidates.find((c) => c.id === id || c.key === id));
  if (selected !== 'all') {
    const unknown = selected.filter((_, i) => picked[i] === undefined);
    if (unknown.length > 0) {
      io.stderr(
        `--apply: not found in this run: ${unknown.join(', ')} (found: ${candidates.map((c) => c.id).join(', ') || 'nothing'})\n`,
      );
      throw new CliExit(1);
    }
  }
  const chosen = picked.filter((c): c is Candidate => c !== undefined);
  const unusable = chosen.filter((c) => c.profileId === undefined || c.connection === undefined);
  for (const c of unusable) {
    io.stderr(
      `--apply: ${c.id} (${c.label}) cannot be added: ${c.profileId === undefined ? 'no device profile matches it' : 'no connection we speak'}\n`,
    );
  }
  if (unusable.length > 0) throw new CliExit(1);
  if (chosen.length === 0) {
    io.stdout('nothing to apply\n');
    return;
  }
  let text: string;
  try {
    text = await io.readFile(sitePath);
  } catch (err) {
    io.stderr(`cannot read ${sitePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}\n`);
    throw new CliExit(2);
  }
  const current = validateSiteConfigText(text);
  if (!current.ok) {
    io.stderr(`${sitePath} is not a valid site configuration; fix it first (voltimax config validate ${sitePath})\n`);
    throw new CliExit(1);
  }
  const taken = new Set(current.site.assets.map((a) => a.id));
  const drafts = chosen.map((c) => {
    const id = assetIdFor(c, taken);
    taken.add(id);
    return { candidate: c, asset: assetFromCandidate(c, id) };
  });
  const raw = JSON.parse(text) as { assets: unknown[] };
  const combined = validateSiteConfigText(
    JSON.stringify({ ...raw, assets: [...raw.assets, ...drafts.map((d) => d.asset)] }),
  );
  if (!combined.ok) {
    io.stderr(
      `not written: adding ${drafts.length === 1 ? 'this device' : 'these devices'} would make ${sitePath} invalid:\n`,
    );
    const first = raw.assets.length;
    for (const problem of combined.problems) {
      const index = /^\$\.assets\[(\d+)\]/.exec(problem.path)?.[1];
      const draft = index === undefined ? undefined : drafts[Number(index) - first];
      io.stderr(
        `  ${draft ? `${draft.candidate.id} → ${String(draft.asset['id'])}` : problem.path}: ${problem.path}: ${problem.message}\n`,
      );
    }
    io.stderr(
      'complete the drafts (battery limits, PV rating, charger currents) and add them with voltimax assets add --asset:\n',
    );
    for (const d of drafts) io.stderr(`  ${JSON.stringify(d.asset)}\n`);
    throw new CliExit(1);
  }
  for (const d of drafts) await assetsAdd(io, { site: sitePath, asset: JSON.stringify(d.asset) }, write);
}
