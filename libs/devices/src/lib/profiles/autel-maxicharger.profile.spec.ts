import { getProfile } from '../registry';

describe('autel.maxicharger-ac', () => {
  it('is an OCPP 1.6-J charger with no registers', () => {
    const profile = getProfile('autel.maxicharger-ac');
    expect(profile).toMatchObject({
      protocol: 'ocpp',
      kind: 'ev-charger',
      ocpp: {
        versions: ['1.6-j'],
        currentControl: 'set-charging-profile',
        minCurrentA: 6,
        bootNotification: { vendor: 'Autel' },
      },
    });
    expect(profile).not.toHaveProperty('points');
    expect(profile).not.toHaveProperty('modbus');
  });
});
