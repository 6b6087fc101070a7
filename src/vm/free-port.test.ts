import net from 'node:net';
import { expect, it } from 'vitest';
import { freeLoopbackPort } from './free-port.js';

it('returns distinct loopback ports that can be bound right away', async () => {
  const ports = await Promise.all([freeLoopbackPort(), freeLoopbackPort(), freeLoopbackPort()]);
  expect(new Set(ports).size).toBe(3);
  for (const port of ports) {
    expect(port).toBeGreaterThan(1023);
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((r) => srv.close(r));
  }
});
