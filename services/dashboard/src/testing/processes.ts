// Gateway services as child processes for the end-to-end test, started as `npm start` (tools/start.js) starts them
// (libs/testing): `node tools/run-ts.js services/<name>/src/main.ts`, each as its own NATS user.
export { REPO_ROOT as ROOT, startProcess, startServiceProcess as startService, type ServiceProcess } from '@voltimax/testing';
