// Composition root: env (exit 78 on a bad SITE_FILE or SIM_PROFILE) → logger → NATS (heartbeat only) →
// simulated site + Modbus listeners → SIM_ASSETS_FILE → 1 s steps → SIGTERM.
import { runService } from '@voltimax/service-kit';
import { simulatorService } from './service';

void runService(simulatorService());
