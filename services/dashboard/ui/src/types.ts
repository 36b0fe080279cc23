// The server's types, for the page (type-only: erased from the bundle).
export type * from '../../src/view';
export type { ControlIntent } from '@voltimax/contracts';
