// Composition root: env and assets.json (exit 78 when invalid) → logger → NATS → AUDIT → arbiter → signals.
import { runService } from '@voltimax/service-kit';
import { safetyArbiterService } from './service';

void runService(safetyArbiterService());
