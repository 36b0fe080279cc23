/** The part of service-kit's HealthControl the components use (a fake in unit tests). */
export interface Health {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
  setAssets(assetIds: readonly string[]): void;
}

/** Every counter of the heartbeat, set to 0 at start so dashboards see them before the first event. */
export const COUNTERS = [
  'connections',
  'disconnections',
  'replacedConnections',
  'authFailures',
  'unknownChargePoints',
  'bootsAccepted',
  'bootsRejected',
  'protocolErrors',
  'badFrames',
  'meterValues',
  'implausibleValues',
  'staleReadings',
  'transactionsStarted',
  'transactionsStopped',
  'unknownTransactions',
  'setupFailures',
  'configurationChanges',
  'writeCommands',
  'writesApplied',
  'writesRejected',
  'writesFailed',
  'writesTimedOut',
  'writesMismatch',
  'duplicateWrites',
  'foreignWrites',
  'remoteStarts',
  'remoteStops',
  'telemetryPublishFailures',
] as const;
export type CounterName = (typeof COUNTERS)[number];
