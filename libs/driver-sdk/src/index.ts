export * from './lib/driver';
export * from './lib/write-path';
export * from './lib/readings';
export * from './lib/readings-loop';
