/**
 * Reads a fetch response's body chunk by chunk, at most `limit` bytes: a body that grows past it is cancelled (the
 * download ends) and the answer is `{ tooLarge: bytes read so far }`, so a broken or hostile server cannot make the
 * service buffer an unbounded body. No body → empty bytes.
 */
export async function readBodyCapped(
  response: Response,
  limit: number,
): Promise<{ readonly bytes: Uint8Array } | { readonly tooLarge: number }> {
  const reader = response.body?.getReader();
  if (reader === undefined) return { bytes: new Uint8Array(0) };
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return { tooLarge: size };
    }
    chunks.push(value);
  }
  return { bytes: Buffer.concat(chunks, size) };
}
