import { describe, expect, it } from 'vitest';
import { precheckAvatar } from './upload';

describe('precheckAvatar', () => {
  it('refuses what the server would refuse, with the reason', () => {
    expect(precheckAvatar({ name: 'a.png', type: 'image/png', size: 10 })).toBeNull();
    expect(precheckAvatar({ name: 'a.svg', type: 'image/svg+xml', size: 10 })).toMatch(/not a PNG/);
    expect(precheckAvatar({ name: 'big.png', type: 'image/png', size: 9 * 1024 * 1024 })).toMatch(/at most 8 MiB/);
    expect(precheckAvatar({ name: 'e.png', type: 'image/png', size: 0 })).toMatch(/empty/);
  });
});
