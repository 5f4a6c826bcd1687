/** The portal on the all-in-one's SQLite stores: it works there, and no secret reaches the file. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildPortalServer } from '../../src/portal/index.js';
import { openSqliteStores } from '../../src/storage/sqlite/index.js';
import { allBytes, tempDir } from '../storage/fixtures.js';
import { cookieOf, DOMAIN, numbersUrl } from './fixtures.js';

describe('portal on SQLite', () => {
  it('keeps accounts, numbers and sessions across a restart, with no password or session token in the file', async () => {
    const dir = tempDir('tidewater-portal-');
    const file = path.join(dir.path, 'tidewater.sqlite');
    const start = async () => {
      const stores = openSqliteStores({ path: file });
      const app = await buildPortalServer({ ...stores, domain: DOMAIN, signupCode: 'secret', outboundProxy: 'proxy' });
      return { stores, app };
    };
    let { stores, app } = await start();
    const accountPassword = 'a very secret portal password';
    await app.inject({ method: 'POST', url: '/accounts/', payload: { email: 'dave@example.com', password: accountPassword, full_name: 'Dave', signup_code: 'secret' } });
    const login = await app.inject({ method: 'POST', url: '/session/', payload: { email: 'dave@example.com', password: accountPassword } });
    const cookie = cookieOf(login);
    const first = (await app.inject({ method: 'POST', url: numbersUrl('dave@example.com'), headers: { cookie } })).json();
    const second = (await app.inject({ method: 'POST', url: numbersUrl('dave@example.com'), headers: { cookie } })).json();
    expect([first.number, second.number]).toEqual(['6505550000', '6505550001']);
    const reset = (await app.inject({ method: 'POST', url: numbersUrl('dave@example.com', first.sip_uri, 'password'), headers: { cookie } })).json();
    await app.close();
    stores.close();

    const bytes = allBytes(dir.path).toString('latin1');
    for (const secret of [accountPassword, first.sip_password, second.sip_password, reset.sip_password, cookie.split('=')[1]!]) {
      expect(bytes.includes(secret), `a secret is stored in the SQLite file`).toBe(false);
    }

    ({ stores, app } = await start());
    const list = await app.inject({ method: 'GET', url: numbersUrl('dave@example.com'), headers: { cookie } });
    expect(list.statusCode).toBe(200);
    expect(list.json().numbers.map((n: { number: string }) => n.number)).toEqual(['6505550000', '6505550001']);
    await app.close();
    stores.close();
    dir.cleanup();
  });
});
