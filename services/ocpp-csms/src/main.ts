// Composition root: env (exit 78 on bad config, assets.json, passwords or TLS files) → logger → NATS → OCPP endpoint.
import { runService } from '@voltimax/service-kit';
import { ocppCsmsService } from './service';

void runService(ocppCsmsService());
