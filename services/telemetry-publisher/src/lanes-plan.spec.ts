import {
  isLaneName,
  laneName,
  lostBeforeFirst,
  planLanes,
  shouldSplit,
  unsentCount,
  type SplitPolicy,
} from './lanes-plan';

describe('lane names', () => {
  it('names the first lane after the service and later ones after their first sequence', () => {
    expect(laneName(1)).toBe('telemetry-publisher');
    expect(laneName(864_001)).toBe('telemetry-publisher-864001');
    expect(
      ['telemetry-publisher', 'telemetry-publisher-5', 'cloud', 'telemetry-publisher-x', 'telemetry-publisher-'].map(
        isLaneName,
      ),
    ).toEqual([true, true, false, false, false]);
  });
});

describe('planLanes', () => {
  it('orders lanes by start; each backlog lane ends where the next begins, the last one is live', () => {
    const lanes = planLanes([
      { name: 'telemetry-publisher-900', startSeq: 900 },
      { name: 'telemetry-publisher', startSeq: 1 },
      { name: 'telemetry-publisher-400', startSeq: 400 },
    ]);
    expect(lanes.map((l) => [l.name, l.startSeq, l.endSeq])).toEqual([
      ['telemetry-publisher', 1, 399],
      ['telemetry-publisher-400', 400, 899],
      ['telemetry-publisher-900', 900, undefined],
    ]);
  });
});

describe('lostBeforeFirst', () => {
  it.each([
    { name: 'nothing dropped yet', received: 100, first: 50, end: undefined, lost: 0, through: 100 },
    {
      name: 'the stream starts right after what we have',
      received: 100,
      first: 101,
      end: undefined,
      lost: 0,
      through: 100,
    },
    {
      name: 'the cap dropped messages we never received',
      received: 100,
      first: 151,
      end: undefined,
      lost: 50,
      through: 150,
    },
    {
      name: 'a backlog lane loses at most its own range',
      received: 100,
      first: 1_000,
      end: 199,
      lost: 99,
      through: 199,
    },
  ])('$name', ({ received, first, end, lost, through }) => {
    expect(lostBeforeFirst(received, first, end)).toEqual({ lost, receivedThrough: through });
  });
});

describe('unsentCount', () => {
  it('counts the stream messages not accepted yet over every lane, without the dropped ones', () => {
    const stream = { firstSeq: 101, lastSeq: 1_000 };
    expect(
      unsentCount(
        [
          { acceptedThrough: 50, endSeq: 399 }, // 101..399 (1..100 were dropped)
          { acceptedThrough: 450, endSeq: 899 }, // 451..899
          { acceptedThrough: 899, endSeq: undefined }, // 900..1000
        ],
        stream,
      ),
    ).toBe(299 + 449 + 101);
    expect(unsentCount([{ acceptedThrough: 1_000, endSeq: undefined }], stream)).toBe(0);
  });
});

describe('shouldSplit', () => {
  const policy: SplitPolicy = { minReadings: 10_000, minAgeMs: 120_000, maxLanes: 4 };
  it.each([
    {
      name: 'far behind by count once the link works',
      justAccepted: true,
      lanes: 1,
      liveUnsent: 10_000,
      age: 1_000,
      split: true,
    },
    { name: 'far behind by age', justAccepted: true, lanes: 1, liveUnsent: 100, age: 120_000, split: true },
    {
      name: 'not while the link is down (no frame accepted)',
      justAccepted: false,
      lanes: 1,
      liveUnsent: 500_000,
      age: 3_600_000,
      split: false,
    },
    { name: 'not when keeping up', justAccepted: true, lanes: 1, liveUnsent: 200, age: 11_000, split: false },
    {
      name: 'not beyond the lane limit',
      justAccepted: true,
      lanes: 4,
      liveUnsent: 500_000,
      age: 3_600_000,
      split: false,
    },
    { name: 'age unknown and few behind', justAccepted: true, lanes: 2, liveUnsent: 10, age: undefined, split: false },
  ])('$name', ({ justAccepted, lanes, liveUnsent, age, split }) => {
    expect(shouldSplit({ policy, lanes, justAccepted, liveUnsent, liveOldestAgeMs: age })).toBe(split);
  });
});
