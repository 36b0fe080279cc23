// Composition root: env (exit 78 when invalid) → logger → NATS → state and subscriptions → web server → signals.
import { runService } from '@voltimax/service-kit';
import { dashboardService } from './service';

void runService(dashboardService());
