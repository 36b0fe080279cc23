export {
  TransportError,
  type CloudCommandClient,
  type CommandChannel,
  type CommandHandler,
  type CommandResult,
  type LinkState,
  type LinkStatus,
  type ReceivedCommand,
  type RejectedCommand,
  type TelemetrySendOptions,
  type TelemetrySink,
} from './lib/port';
