// OCPP 1.6-J payloads the central system reads, as zod schemas. ocpp-rpc's strict mode has already checked every
// message against the official 1.6 JSON schemas (answering violations with the proper CALLERROR); these schemas
// give the typed values and check what JSON schema cannot (a date-time that is a real instant).
import { z } from 'zod';

const DateTimeSchema = z
  .string()
  .refine((text) => Number.isFinite(Date.parse(text)), 'not a valid date-time')
  .transform((text) => Date.parse(text));

export const BootNotificationReqSchema = z.object({
  chargePointVendor: z.string(),
  chargePointModel: z.string(),
  chargePointSerialNumber: z.string().optional(),
  chargeBoxSerialNumber: z.string().optional(),
  firmwareVersion: z.string().optional(),
});

export const AuthorizeReqSchema = z.object({ idTag: z.string() });

export const StatusNotificationReqSchema = z.object({
  connectorId: z.number().int().nonnegative(),
  errorCode: z.string(),
  info: z.string().optional(),
  status: z.enum([
    'Available',
    'Preparing',
    'Charging',
    'SuspendedEVSE',
    'SuspendedEV',
    'Finishing',
    'Reserved',
    'Unavailable',
    'Faulted',
  ]),
  timestamp: DateTimeSchema.optional(),
  vendorId: z.string().optional(),
  vendorErrorCode: z.string().optional(),
});
export type StatusNotificationReq = z.output<typeof StatusNotificationReqSchema>;

export const SampledValueSchema = z.object({
  value: z.string(),
  context: z.string().optional(),
  format: z.enum(['Raw', 'SignedData']).optional(),
  measurand: z.string().optional(),
  phase: z.string().optional(),
  location: z.string().optional(),
  unit: z.string().optional(),
});
export type SampledValue = z.output<typeof SampledValueSchema>;

export const MeterValueSchema = z.object({ timestamp: DateTimeSchema, sampledValue: z.array(SampledValueSchema) });
export type MeterValue = z.output<typeof MeterValueSchema>;

export const MeterValuesReqSchema = z.object({
  connectorId: z.number().int().nonnegative(),
  transactionId: z.number().int().optional(),
  meterValue: z.array(MeterValueSchema),
});

export const StartTransactionReqSchema = z.object({
  connectorId: z.number().int().positive(),
  idTag: z.string(),
  meterStart: z.number().int(),
  reservationId: z.number().int().optional(),
  timestamp: DateTimeSchema,
});

export const StopTransactionReqSchema = z.object({
  idTag: z.string().optional(),
  meterStop: z.number().int(),
  timestamp: DateTimeSchema,
  transactionId: z.number().int(),
  reason: z.string().optional(),
  transactionData: z.array(MeterValueSchema).optional(),
});

export const GetConfigurationConfSchema = z.object({
  configurationKey: z
    .array(z.object({ key: z.string(), readonly: z.boolean(), value: z.string().optional() }))
    .optional(),
  unknownKey: z.array(z.string()).optional(),
});

export const StatusConfSchema = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.object({ status: z.enum(values) });

export const ChangeConfigurationConfSchema = StatusConfSchema(['Accepted', 'Rejected', 'RebootRequired', 'NotSupported']);
export const SetChargingProfileConfSchema = StatusConfSchema(['Accepted', 'Rejected', 'NotSupported']);
export const RemoteStartStopConfSchema = StatusConfSchema(['Accepted', 'Rejected']);
export const TriggerMessageConfSchema = StatusConfSchema(['Accepted', 'Rejected', 'NotImplemented']);

export const ChargingSchedulePeriodSchema = z.object({
  startPeriod: z.number().int(),
  limit: z.number(),
  numberPhases: z.number().int().optional(),
});

export const GetCompositeScheduleConfSchema = z.object({
  status: z.enum(['Accepted', 'Rejected']),
  connectorId: z.number().int().optional(),
  scheduleStart: DateTimeSchema.optional(),
  chargingSchedule: z
    .object({
      duration: z.number().int().optional(),
      startSchedule: DateTimeSchema.optional(),
      chargingRateUnit: z.enum(['A', 'W']),
      chargingSchedulePeriod: z.array(ChargingSchedulePeriodSchema),
      minChargingRate: z.number().optional(),
    })
    .optional(),
});
export type GetCompositeScheduleConf = z.output<typeof GetCompositeScheduleConfSchema>;
