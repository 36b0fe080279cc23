/**
 * Canonical JSON of a JSON value: object keys sorted (by UTF-16 code unit), no whitespace, `undefined` members left
 * out as JSON.stringify does, arrays in their order. Two values that are equal as JSON give the same text, whatever
 * the order their keys were written in — the input of the configuration hash (`config.updated.hash` = SHA-256 of the
 * canonical JSON of the validated SiteConfig, lower-case hex; services hash it themselves, this lib does no I/O).
 * Throws on values JSON cannot carry faithfully (NaN, ±Infinity, functions, bigint, cycles).
 */
export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${String(value)} is not a JSON number`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not a JSON value`);
  }
  const object = value as object;
  if (seen.has(object)) throw new TypeError('canonicalJson: cyclic value');
  seen.add(object);
  try {
    if (Array.isArray(object)) {
      return `[${object.map((item: unknown) => (item === undefined ? 'null' : write(item, seen))).join(',')}]`;
    }
    const record = object as Record<string, unknown>;
    const members = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${write(record[key], seen)}`);
    return `{${members.join(',')}}`;
  } finally {
    seen.delete(object);
  }
}
