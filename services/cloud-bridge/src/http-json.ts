import { readBodyCapped } from '@voltimax/service-kit';
/** `fetch` as the bridge uses it; injectable (the global one by default). */
export type FetchLike = (
  url: string,
  init: { method?: string; headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<Response>;

/** Why an HTTP source gave nothing usable. */
export class HttpSourceError extends Error {
  override readonly name = 'HttpSourceError';
  constructor(
    message: string,
    readonly code: 'unreachable' | 'timeout' | 'status' | 'auth' | 'not-found' | 'invalid-body',
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Worth trying again later (the source or the network may recover; a wrong token or a bad body will not by itself). */
  get retryable(): boolean {
    return (
      this.code === 'unreachable' || this.code === 'timeout' || (this.code === 'status' && (this.status ?? 500) >= 500)
    );
  }
}

/**
 * Largest response body read, bytes (8 MiB): far above a site configuration or two days of quarter-hourly prices,
 * and a bound on the memory a broken or hostile server can make the bridge use.
 */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** The body as UTF-8 text, read chunk by chunk; past `maxBytes` the download is aborted and this throws. */
async function readBodyText(response: Response, what: string, maxBytes: number): Promise<string> {
  const tooLarge = (detail: string): HttpSourceError =>
    new HttpSourceError(`${what}: body larger than ${maxBytes} bytes (${detail})`, 'invalid-body', response.status);
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(`content-length ${declared}`);
  }
  const read = await readBodyCapped(response, maxBytes);
  if ('tooLarge' in read) throw tooLarge(`aborted after ${read.tooLarge} bytes`);
  return Buffer.from(read.bytes).toString('utf8');
}

/** The URL `path` below `base`, keeping a path the base may have (`https://api/v1` + `gateways/x` → `/v1/gateways/x`). */
export function joinUrl(base: string, path: string, query: Readonly<Record<string, string>> = {}): string {
  const url = new URL(path.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  return url.toString();
}

/**
 * GET `url` and parse the JSON body. 304 → `{ status: 304 }`. Other non-2xx statuses, network errors, timeouts,
 * bodies larger than `maxBodyBytes` (default {@link DEFAULT_MAX_BODY_BYTES}; the download is aborted) and non-JSON
 * bodies throw {@link HttpSourceError} naming `what`.
 */
export async function getJson(
  fetchFn: FetchLike,
  what: string,
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
  maxBodyBytes: number = DEFAULT_MAX_BODY_BYTES,
): Promise<
  | { readonly notModified: true }
  | { readonly notModified: false; readonly status: number; readonly body: unknown; readonly etag: string | undefined }
> {
  let response: Response;
  try {
    response = await fetchFn(url, {
      method: 'GET',
      headers: { accept: 'application/json', ...headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name === 'TimeoutError' || name === 'AbortError')
      throw new HttpSourceError(`${what}: no answer within ${timeoutMs} ms`, 'timeout', undefined, { cause: err });
    const cause =
      err instanceof Error && err.cause instanceof Error
        ? err.cause.message
        : err instanceof Error
          ? err.message
          : String(err);
    throw new HttpSourceError(`${what}: unreachable (${cause})`, 'unreachable', undefined, { cause: err });
  }
  if (response.status === 304) {
    await response.body?.cancel().catch(() => undefined);
    return { notModified: true };
  }
  let text: string;
  try {
    text = await readBodyText(response, what, maxBodyBytes);
  } catch (err) {
    if (err instanceof HttpSourceError) throw err;
    const name = err instanceof Error ? err.name : '';
    if (name === 'TimeoutError' || name === 'AbortError')
      throw new HttpSourceError(`${what}: no answer within ${timeoutMs} ms`, 'timeout', undefined, { cause: err });
    throw new HttpSourceError(`${what}: connection lost while reading the body`, 'unreachable', undefined, {
      cause: err,
    });
  }
  if (response.status === 401 || response.status === 403)
    throw new HttpSourceError(`${what}: HTTP ${response.status} (check the token)`, 'auth', response.status);
  if (response.status === 404) throw new HttpSourceError(`${what}: HTTP 404 (not found)`, 'not-found', 404);
  if (response.status < 200 || response.status >= 300)
    throw new HttpSourceError(`${what}: HTTP ${response.status}`, 'status', response.status);
  try {
    return {
      notModified: false,
      status: response.status,
      body: JSON.parse(text) as unknown,
      etag: response.headers.get('etag') ?? undefined,
    };
  } catch (err) {
    throw new HttpSourceError(`${what}: body is not JSON`, 'invalid-body', response.status, { cause: err });
  }
}
