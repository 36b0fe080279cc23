// Composition root: env and assets.json (exit 78 when invalid) → logger → NATS → stream TELEMETRY → publisher → signals.
import { runService } from '@voltimax/service-kit';
import { telemetryPublisherService } from './service';

void runService(telemetryPublisherService());
