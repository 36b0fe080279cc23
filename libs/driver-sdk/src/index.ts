export * from './lib/driver';
