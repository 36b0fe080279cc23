/** Example payloads for tests in every project (the producer's and the consumers' tests share them). */
export * from './lib/examples';
