// Composition root: env (exit 78 on bad config or assets.json) → logger → NATS → poller + write path → signals.
import { runService } from '@voltimax/service-kit';
import { modbusPollerService } from './service';

void runService(modbusPollerService());
