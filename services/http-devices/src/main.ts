// Composition root: env (exit 78 on bad config, assets.json or a missing secret) → logger → NATS → HTTP poller +
// MQTT listener + write path → signals.
import { runService } from '@voltimax/service-kit';
import { httpDevicesService } from './service';

void runService(httpDevicesService());
