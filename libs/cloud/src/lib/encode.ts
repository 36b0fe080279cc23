import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { TelemetryFrameSchema, type TelemetryFrame } from '@voltimax/contracts';
import { TransportError } from './port';

const gzipAsync = promisify(gzip);

/** A TelemetryFrame as bytes on the wire. */
export interface EncodedFrame {
  readonly body: Buffer;
  readonly gzip: boolean;
  readonly frameId: string;
}

/**
 * Checks a frame (schema, gateway) and encodes it as JSON, gzip-compressed when asked; throws a non-retryable
 * TransportError for an invalid frame or one larger than `maxBytes` after encoding.
 */
export async function encodeFrame(
  frame: TelemetryFrame,
  gatewayId: string,
  gzipBody: boolean,
  maxBytes: number,
): Promise<EncodedFrame> {
  const parsed = TelemetryFrameSchema.safeParse(frame);
  if (!parsed.success) {
    throw new TransportError(
      `invalid telemetry frame: ${parsed.error.issues
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .slice(0, 3)
        .join('; ')}`,
      'protocol',
      false,
    );
  }
  if (parsed.data.gatewayId !== gatewayId) {
    throw new TransportError(
      `frame ${parsed.data.frameId} is for gateway '${parsed.data.gatewayId}', this sink sends for '${gatewayId}'`,
      'protocol',
      false,
    );
  }
  const json = Buffer.from(JSON.stringify(parsed.data), 'utf8');
  const body = gzipBody ? await gzipAsync(json) : json;
  if (body.length > maxBytes) {
    throw new TransportError(
      `frame ${parsed.data.frameId} is ${body.length} bytes${gzipBody ? ' gzipped' : ''}, the transport takes at most ${maxBytes}`,
      'too-large',
      false,
    );
  }
  return { body, gzip: gzipBody, frameId: parsed.data.frameId };
}
