// Services as child processes, started the way `npm start` (tools/start.js) starts them (libs/testing).
export { REPO_ROOT as ROOT, startServiceProcess as startService, type ServiceProcess } from '@voltimax/testing';
