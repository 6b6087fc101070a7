import { describe, expect, it } from 'vitest';
import { hostPackageVersions } from './debian.js';

describe("hostPackageVersions (this host's dpkg)", () => {
  it('gives every asked package its installed version, in one question', async () => {
    const v = await hostPackageVersions(['busybox-static', 'dropbear-bin']);
    expect(Object.keys(v)).toEqual(['busybox-static', 'dropbear-bin']);
    for (const version of Object.values(v)) expect(version).toMatch(/^[0-9][\w.+:~-]*$/);
  });

  it('names every missing package and the install line', async () => {
    await expect(hostPackageVersions(['busybox-static', 'huci-no-such-package', 'huci-nor-this'])).rejects.toThrow(
      'Debian packages huci-no-such-package, huci-nor-this missing; install with: apt-get install -y huci-no-such-package huci-nor-this',
    );
  });
});
