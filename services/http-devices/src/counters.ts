/** The part of service-kit's HealthControl the components use (a recording fake in unit tests). */
export interface Health {
  setStatus(status: 'ok' | 'degraded' | 'error', detail?: string): void;
  setCounter(name: string, value: number): void;
  incrementCounter(name: string, by?: number): void;
}
