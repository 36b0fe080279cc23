export * from './lib/subject';
export * from './lib/common';
export * from './lib/readings';
export * from './lib/control';
export * from './lib/site-config';
export * from './lib/cloud';
export * from './lib/subjects';
export * from './lib/format-issues';
