import fc from 'fast-check';
import {
  IntentSourceSchema,
  InvalidSubjectTokenError,
  SUBJECT_TOKEN,
  defineSubject,
  intentParams,
  subjects,
  type SubjectDef,
} from './index';
import { replyExamples, subjectExamples } from './testing';
import { z } from 'zod';

const entries = Object.entries(subjects) as [keyof typeof subjects, SubjectDef<string, z.ZodType>][];

describe('subject catalog', () => {
  it.each(entries)('%s: every example payload parses with its schema', (name, def) => {
    const examples = subjectExamples[name];
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) expect(def.schema.safeParse(example).error).toBeUndefined();
  });

  it.each(Object.entries(replyExamples))('%s: every example reply parses with its reply schema', (name, examples) => {
    const def = subjects[name as keyof typeof replyExamples];
    for (const example of examples) expect(def.replySchema.safeParse(example).error).toBeUndefined();
  });

  it.each(entries)('%s: pattern follows the grammar (lower-case dot tokens or {param})', (_name, def) => {
    for (const token of def.pattern.split('.')) expect(token).toMatch(/^([a-z0-9_-]+|\{[a-zA-Z]+\})$/);
    expect(def.pattern.startsWith('$')).toBe(false);
  });

  it('no two subjects share a wildcard', () => {
    const wildcards = entries.map(([, def]) => def.wildcard);
    expect(new Set(wildcards).size).toBe(wildcards.length);
  });

  it('builds concrete subjects', () => {
    expect(subjects.deviceWrite.format({ assetId: 'bat-1' })).toBe('device.bat-1.write');
    expect(subjects.telemetry.wildcard).toBe('telemetry.*');
    expect(subjects.deviceWrite.wildcard).toBe('device.*.write');
    expect(subjects.estop.format({})).toBe('safety.estop');
  });

  it.each(['bat.1', 'bat*', '>', 'Bat-1', '', 'a b', '$SYS', 'bat-1.>', 'x'.repeat(65)])('refuses the asset id %j', (assetId) => {
    expect(() => subjects.deviceWrite.format({ assetId })).toThrow(InvalidSubjectTokenError);
  });

  it('refuses a missing parameter', () => {
    expect(() => subjects.telemetry.format({} as { assetId: string })).toThrow(/parameter 'assetId' is missing/);
  });

  it('parses concrete subjects back into parameters', () => {
    expect(subjects.deviceWrite.parse('device.bat-1.write')).toEqual({ assetId: 'bat-1' });
    expect(subjects.deviceWrite.parse('device.bat-1.read')).toBeUndefined();
    expect(subjects.deviceWrite.parse('device.bat.1.write')).toBeUndefined();
    expect(subjects.estop.parse('safety.estop')).toEqual({});
  });

  it('format and parse are inverse for every valid token', () => {
    fc.assert(
      fc.property(fc.stringMatching(SUBJECT_TOKEN), fc.stringMatching(SUBJECT_TOKEN), (source, assetId) => {
        expect(subjects.intent.parse(subjects.intent.format({ source, assetId }))).toEqual({ source, assetId });
      }),
    );
  });

  describe('intent subjects carry the source, so the server can grant each source to its publishers', () => {
    it('puts the source before the asset, and subscribers take every source with control.intent.*.*', () => {
      expect(subjects.intent.pattern).toBe('control.intent.{source}.{assetId}');
      expect(subjects.intent.wildcard).toBe('control.intent.*.*');
      expect(subjects.intent.format({ source: 'manual', assetId: 'bat-1' })).toBe('control.intent.manual.bat-1');
      expect(subjects.intent.parse('control.intent.optimization.bat-1')).toEqual({
        source: 'optimization',
        assetId: 'bat-1',
      });
      expect(subjects.intent.parse('control.intent.bat-1')).toBeUndefined();
    });

    it.each(IntentSourceSchema.options)('the source %s is one subject token', (source) => {
      expect(source).toMatch(SUBJECT_TOKEN);
    });

    it('intentParams takes both parameters from the intent itself', () => {
      for (const intent of subjectExamples.intent) {
        expect(subjects.intent.format(intentParams(intent))).toBe(`control.intent.${intent.source}.${intent.assetId}`);
      }
    });
  });

  it('a formatted subject is always exactly one token per parameter', () => {
    fc.assert(
      fc.property(fc.string(), (assetId) => {
        try {
          expect(subjects.telemetry.format({ assetId }).split('.')).toHaveLength(2);
        } catch (err) {
          expect(err).toBeInstanceOf(InvalidSubjectTokenError);
        }
      }),
    );
  });

  it('refuses invalid patterns at definition time', () => {
    expect(() => defineSubject('Telemetry.{id}', z.string())).toThrow(/invalid subject pattern/);
    expect(() => defineSubject('telemetry..x', z.string())).toThrow(/invalid subject pattern/);
    expect(() => defineSubject('telemetry.>', z.string())).toThrow(/invalid subject pattern/);
  });
});
