import type { z } from 'zod';
import {
  NotAcceptedError,
  type ChargerState,
  type CommandStatus,
  type IdTagStatus,
  type ProtocolAdapter,
  type RateUnit,
  type StationCommands,
  type StationHandler,
} from '../adapter';
import { rpcError, rpcErrorCode, type RpcConnection } from '../rpc';
import { chargingProfile16, compositeLimitAt } from './charging-profile';
import {
  AuthorizeReqSchema,
  BootNotificationReqSchema,
  ChangeConfigurationConfSchema,
  GetCompositeScheduleConfSchema,
  GetConfigurationConfSchema,
  MeterValuesReqSchema,
  RemoteStartStopConfSchema,
  SetChargingProfileConfSchema,
  StartTransactionReqSchema,
  StatusNotificationReqSchema,
  StopTransactionReqSchema,
  TriggerMessageConfSchema,
} from './messages';
import { meterSamples } from './meter-values';

/** The connector status words of 1.6, mapped to the simplified charger state. */
const STATE_OF: Readonly<Record<string, ChargerState>> = {
  Available: 'available',
  Preparing: 'preparing',
  Charging: 'charging',
  SuspendedEV: 'suspended',
  SuspendedEVSE: 'suspended',
  Finishing: 'finishing',
  Reserved: 'unavailable',
  Unavailable: 'unavailable',
  Faulted: 'faulted',
};

const ID_TAG_STATUS: Readonly<Record<IdTagStatus, string>> = {
  accepted: 'Accepted',
  blocked: 'Blocked',
  expired: 'Expired',
  invalid: 'Invalid',
  concurrent: 'ConcurrentTx',
};

/** A payload that passed the 1.6 JSON schema but not ours (e.g. a date-time that is no real instant). */
class PayloadError extends Error {
  override readonly name = 'PayloadError';
}

/** Parses what ocpp-rpc already validated against the 1.6 schema. */
function parse<S extends z.ZodType>(schema: S, params: unknown, method: string): z.output<S> {
  const result = schema.safeParse(params);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  const where = first === undefined || first.path.length === 0 ? '' : ` at ${first.path.join('.')}`;
  throw new PayloadError(`${method}${where}: ${first?.message ?? 'invalid'}`);
}

/** `connectorId` of a payload that failed the schema, when it still has a usable one. */
function connectorIdOf(params: unknown): number | undefined {
  if (typeof params !== 'object' || params === null || !('connectorId' in params)) return undefined;
  const id = (params as { connectorId: unknown }).connectorId;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : undefined;
}

/** A call answered with a CALLERROR that means "not implemented here". */
function isNotSupported(err: unknown): boolean {
  const code = rpcErrorCode(err);
  return code === 'NotImplemented' || code === 'NotSupported';
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** OCPP 1.6-J (JSON over WebSocket, subprotocol `ocpp1.6`). */
export const ocpp16Adapter: ProtocolAdapter = {
  subprotocol: 'ocpp1.6',
  configurationKeys: {
    rateUnit: 'ChargingScheduleAllowedChargingRateUnit',
    meterInterval: 'MeterValueSampleInterval',
    sampledData: 'MeterValuesSampledData',
  },

  rateUnits(value) {
    // A CSL of "Current" and/or "Power" (some firmwares write "A"/"W"). Amps first: the arbiter's unit.
    const words = (value ?? '').split(',').map((w) => w.trim().toLowerCase());
    const units: RateUnit[] = [];
    if (words.some((w) => w === 'current' || w === 'a')) units.push('A');
    if (words.some((w) => w === 'power' || w === 'w')) units.push('W');
    return units;
  },

  bind(connection: RpcConnection, handler: StationHandler, opts): StationCommands {
    const { callTimeoutMs, now } = opts;

    /**
     * Runs a handler: NotAcceptedError becomes CALLERROR SecurityError; a payload our schema refuses (after the
     * 1.6 JSON schema accepted it) is a FormationViolation and reported like a schema failure.
     */
    const guard =
      <T>(method: string, fn: (params: unknown) => T) =>
      (params: unknown): T => {
        try {
          return fn(params);
        } catch (err) {
          if (err instanceof NotAcceptedError) throw rpcError('SecurityError', err.message);
          if (err instanceof PayloadError) {
            const connectorId = connectorIdOf(params);
            handler.violation({
              method,
              code: 'FormationViolation',
              message: err.message,
              ...(connectorId === undefined ? {} : { connectorId }),
            });
            throw rpcError('FormationViolation', err.message);
          }
          throw err;
        }
      };

    connection.handle(
      'BootNotification',
      guard('BootNotification', (params) => {
        const req = parse(BootNotificationReqSchema, params, 'BootNotification');
        const serial = req.chargePointSerialNumber ?? req.chargeBoxSerialNumber;
        const answer = handler.boot({
          vendor: req.chargePointVendor,
          model: req.chargePointModel,
          ...(serial === undefined ? {} : { serial }),
          ...(req.firmwareVersion === undefined ? {} : { firmware: req.firmwareVersion }),
        });
        const status = answer.status === 'accepted' ? 'Accepted' : answer.status === 'pending' ? 'Pending' : 'Rejected';
        return { status, currentTime: iso(now()), interval: answer.intervalS };
      }),
    );
    connection.handle(
      'Heartbeat',
      guard('Heartbeat', () => {
        handler.heartbeat();
        return { currentTime: iso(now()) };
      }),
    );
    connection.handle(
      'Authorize',
      guard('Authorize', (params) => {
        const req = parse(AuthorizeReqSchema, params, 'Authorize');
        return { idTagInfo: { status: ID_TAG_STATUS[handler.authorize(req.idTag)] } };
      }),
    );
    connection.handle(
      'StatusNotification',
      guard('StatusNotification', (params) => {
        const req = parse(StatusNotificationReqSchema, params, 'StatusNotification');
        handler.status({
          connectorId: req.connectorId,
          state: STATE_OF[req.status] ?? 'unavailable',
          raw: req.status,
          ...(req.errorCode === 'NoError' ? {} : { errorCode: req.errorCode }),
          ...(req.info === undefined ? {} : { info: req.info }),
          atMs: req.timestamp ?? now(),
        });
        return {};
      }),
    );
    connection.handle(
      'StartTransaction',
      guard('StartTransaction', (params) => {
        const req = parse(StartTransactionReqSchema, params, 'StartTransaction');
        const answer = handler.startTransaction({
          connectorId: req.connectorId,
          idTag: req.idTag,
          meterStartWh: req.meterStart,
          atMs: req.timestamp,
        });
        return { transactionId: answer.transactionId, idTagInfo: { status: ID_TAG_STATUS[answer.idTagStatus] } };
      }),
    );
    connection.handle(
      'StopTransaction',
      guard('StopTransaction', (params) => {
        const req = parse(StopTransactionReqSchema, params, 'StopTransaction');
        const answer = handler.stopTransaction({
          transactionId: req.transactionId,
          ...(req.idTag === undefined ? {} : { idTag: req.idTag }),
          meterStopWh: req.meterStop,
          atMs: req.timestamp,
          ...(req.reason === undefined ? {} : { reason: req.reason }),
          samples: meterSamples(req.transactionData ?? []),
        });
        return answer.idTagStatus === undefined ? {} : { idTagInfo: { status: ID_TAG_STATUS[answer.idTagStatus] } };
      }),
    );
    connection.handle(
      'MeterValues',
      guard('MeterValues', (params) => {
        const req = parse(MeterValuesReqSchema, params, 'MeterValues');
        handler.meterValues({
          connectorId: req.connectorId,
          ...(req.transactionId === undefined ? {} : { transactionId: req.transactionId }),
          samples: meterSamples(req.meterValue),
        });
        return {};
      }),
    );
    // Messages we take but do not act on; DataTransfer has no vendor extension here.
    connection.handle('DataTransfer', guard('DataTransfer', () => ({ status: 'UnknownVendorId' })));
    connection.handle('DiagnosticsStatusNotification', guard('DiagnosticsStatusNotification', () => ({})));
    connection.handle('FirmwareStatusNotification', guard('FirmwareStatusNotification', () => ({})));
    // No catch-all handler: ocpp-rpc answers any other action with NotImplemented before validating it.
    connection.onViolation((violation) => {
      handler.violation({
        ...(violation.method === undefined ? {} : { method: violation.method }),
        code: violation.code,
        message: violation.message,
        ...(violation.params === undefined ? {} : { connectorId: connectorIdOf(violation.params) }),
      });
    });

    const call = async <S extends z.ZodType>(
      method: string,
      params: unknown,
      schema: S,
      timeoutMs: number = callTimeoutMs,
    ): Promise<z.output<S>> => {
      const answer = await connection.call(method, params, timeoutMs);
      const parsed = schema.safeParse(answer);
      if (!parsed.success) throw new Error(`${method}: unusable answer: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
      return parsed.data;
    };
    const commandStatus = (status: 'Accepted' | 'Rejected' | 'NotSupported' | 'NotImplemented'): CommandStatus =>
      status === 'Accepted' ? 'accepted' : status === 'Rejected' ? 'rejected' : 'not-supported';

    return {
      async readConfiguration(keys) {
        const conf = await call('GetConfiguration', { key: [...keys] }, GetConfigurationConfSchema);
        return new Map(
          (conf.configurationKey ?? []).map((entry) => [
            entry.key,
            { readonly: entry.readonly, ...(entry.value === undefined ? {} : { value: entry.value }) },
          ]),
        );
      },
      async changeConfiguration(key, value) {
        const conf = await call('ChangeConfiguration', { key, value }, ChangeConfigurationConfSchema);
        switch (conf.status) {
          case 'Accepted':
            return 'accepted';
          case 'Rejected':
            return 'rejected';
          case 'RebootRequired':
            return 'reboot-required';
          case 'NotSupported':
            return 'not-supported';
        }
      },
      async setChargingProfile(profile, timeoutMs) {
        const conf = await call(
          'SetChargingProfile',
          { connectorId: profile.connectorId, csChargingProfiles: chargingProfile16(profile) },
          SetChargingProfileConfSchema,
          timeoutMs,
        );
        return commandStatus(conf.status);
      },
      async compositeLimit(connectorId, unit, atMs, timeoutMs) {
        try {
          const conf = await call(
            'GetCompositeSchedule',
            { connectorId, duration: 60, chargingRateUnit: unit },
            GetCompositeScheduleConfSchema,
            timeoutMs,
          );
          if (conf.status !== 'Accepted') return { status: 'rejected' };
          if (conf.chargingSchedule !== undefined && conf.chargingSchedule.chargingRateUnit !== unit) {
            throw new Error(`GetCompositeSchedule: asked for ${unit}, answered in ${conf.chargingSchedule.chargingRateUnit}`);
          }
          return { status: 'accepted', limit: compositeLimitAt(conf, atMs) };
        } catch (err) {
          if (isNotSupported(err)) return { status: 'not-supported' };
          throw err;
        }
      },
      async remoteStart(connectorId, idTag, profile, timeoutMs) {
        const conf = await call(
          'RemoteStartTransaction',
          {
            connectorId,
            idTag,
            ...(profile === undefined ? {} : { chargingProfile: chargingProfile16({ ...profile, purpose: 'transaction' }) }),
          },
          RemoteStartStopConfSchema,
          timeoutMs,
        );
        return conf.status === 'Accepted' ? 'accepted' : 'rejected';
      },
      async remoteStop(transactionId, timeoutMs) {
        const conf = await call('RemoteStopTransaction', { transactionId }, RemoteStartStopConfSchema, timeoutMs);
        return conf.status === 'Accepted' ? 'accepted' : 'rejected';
      },
      async triggerStatus(connectorId) {
        try {
          const conf = await call(
            'TriggerMessage',
            { requestedMessage: 'StatusNotification', connectorId },
            TriggerMessageConfSchema,
          );
          return commandStatus(conf.status);
        } catch (err) {
          if (isNotSupported(err)) return 'not-supported';
          throw err;
        }
      },
    };
  },
};
