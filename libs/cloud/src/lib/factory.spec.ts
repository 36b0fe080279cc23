import { CloudSettingsSchema } from '@voltimax/contracts';
import { CloudConfigError, createCloudClient, createGatewayTransport } from './factory';

const mqtt = CloudSettingsSchema.parse({
  transport: 'mqtt',
  brokerUrl: 'mqtts://broker.example.com:8883',
  usernameEnv: 'MQTT_USER',
  passwordEnv: 'MQTT_PASS',
  platformApiUrl: 'https://api.example.com/v1',
});

describe('createGatewayTransport', () => {
  it('returns null for transport none', () => {
    expect(createGatewayTransport({ transport: 'none' }, {}, 'gw-1')).toBeNull();
    expect(createCloudClient({ transport: 'none' }, {})).toBeNull();
  });

  it('names every missing secret variable, never a value', () => {
    const error = (() => {
      try {
        createGatewayTransport(mqtt, { MQTT_USER: 'gw-1' }, 'gw-1');
      } catch (err: unknown) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CloudConfigError);
    expect((error as CloudConfigError).problems).toEqual([
      { variable: 'MQTT_PASS', message: expect.stringContaining('not set') },
    ]);
    expect((error as Error).message).not.toContain('gw-1');
  });

  it('builds the MQTT channel and sink, and the HTTP fallback when platformApiUrl is set, without connecting', async () => {
    const transport = createGatewayTransport(mqtt, { MQTT_USER: 'u', MQTT_PASS: 'p', PLATFORM_API_TOKEN: 't' }, 'gw-1');
    expect(transport?.telemetry.kind).toBe('mqtt');
    expect(transport?.fallbackTelemetry?.kind).toBe('http');
    expect(transport?.commands.status().state).toBe('connecting');
    await transport?.commands.close();
    await transport?.telemetry.close();
    await transport?.fallbackTelemetry?.close();
    expect(transport?.commands.status().state).toBe('closed');
  });

  it('has no HTTP fallback without platformApiUrl', async () => {
    const transport = createGatewayTransport(
      CloudSettingsSchema.parse({ transport: 'mqtt', brokerUrl: 'mqtt://127.0.0.1:1' }),
      {},
      'gw-1',
    );
    expect(transport?.fallbackTelemetry).toBeUndefined();
    await transport?.commands.close();
  });
});

describe('createGatewayTransport for Service Bus', () => {
  const settings = CloudSettingsSchema.parse({ transport: 'servicebus', connectionStringEnv: 'SB_CONN' });
  const valid = 'Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=gw;SharedAccessKey=c2VjcmV0';

  it('names the missing connection string variable', () => {
    expect(() => createGatewayTransport(settings, {}, 'gw-1')).toThrow(/SB_CONN: is not set/);
    expect(() => createCloudClient(settings, {})).toThrow(CloudConfigError);
  });

  it('refuses a value that is not a Service Bus connection string, without echoing it', () => {
    let message = '';
    try {
      createGatewayTransport(settings, { SB_CONN: 'postgres://user:hunter2@db' }, 'gw-1');
    } catch (err: unknown) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/SB_CONN: is not a Service Bus connection string/);
    expect(message).not.toContain('hunter2');
  });

  it('builds the Service Bus channel and sink without connecting', async () => {
    const transport = createGatewayTransport(settings, { SB_CONN: valid }, 'gw-1');
    expect(transport?.telemetry.kind).toBe('servicebus');
    expect(transport?.fallbackTelemetry).toBeUndefined();
    expect(transport?.commands.status().state).toBe('connecting');
    await transport?.commands.close();
    await transport?.telemetry.close();
    const client = createCloudClient(settings, { SB_CONN: valid });
    await client?.close();
  });
});
