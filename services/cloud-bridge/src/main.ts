// Composition root: env and assets.json (exit 78 when invalid) → logger → NATS → KV → config sync, prices,
// gateway requests → cloud command channel → signals.
import { runService } from '@voltimax/service-kit';
import { cloudBridgeService } from './service';

void runService(cloudBridgeService());
