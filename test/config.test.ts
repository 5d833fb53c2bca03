import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, initialPasswordFileName, loadConfig, misspeltVariables } from '../src/config.ts';

/** Asserts that `env` is refused with a ConfigError naming `variable` and saying what is expected. */
function refuses(env: Record<string, string>, variable: string, expected: RegExp): void {
  assert.throws(
    () => loadConfig(env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.variable, variable);
      assert.ok(error.message.startsWith(`${variable} must `), error.message);
      assert.match(error.message, expected);
      return true;
    },
  );
}

describe('loadConfig', () => {
  test('defaults', () => {
    const config = loadConfig({});
    assert.deepEqual(config, {
      port: 8080,
      host: '0.0.0.0',
      baseUrl: 'http://localhost:8080',
      database: { kind: 'sqlite', path: resolve(process.cwd(), 'data/roster.db') },
      logLevel: 'info',
      maxBodySize: 20 * 1024 * 1024,
      activityRetentionDays: 30,
      auditRetentionDays: null,
      adminGroup: 'roster-administrators',
      eventRetentionDays: 30,
      cookieDomain: undefined,
      trustedHosts: [],
      trustedProxies: [],
      oidcAccessTokenTtlSeconds: 300,
      scimCursorTimeout: 3600,
      admission: { maxConcurrent: 16, queueTimeoutMs: 2000, maxQueued: 128 },
      rateLimit: { perMinute: 6000, burst: 600 },
      signInRateLimit: { perMinute: 600, burst: 300 },
      dataDir: resolve(process.cwd(), 'data'),
      secretKey: undefined,
      previousSecretKey: undefined,
      metricsAllow: [
        { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '::1', prefix: 128, family: 'ipv6' },
      ],
      webhookRetrySchedule: [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 86_400_000],
      webhookLeaseMs: 30_000,
    });
  });

  test('ROSTER_WEBHOOK_RETRY_SCHEDULE: delays with units, about three days by default', () => {
    const total = loadConfig({}).webhookRetrySchedule.reduce((sum, delay) => sum + delay, 0);
    assert.ok(total > 2.5 * 86_400_000 && total < 3 * 86_400_000);
    assert.deepEqual(loadConfig({ ROSTER_WEBHOOK_RETRY_SCHEDULE: '500ms, 5s,2m,1h,1d' }).webhookRetrySchedule, [500, 5000, 120_000, 3_600_000, 86_400_000]);
    for (const bad of ['5', '5x', '1s,,2s', '8d', '0s']) refuses({ ROSTER_WEBHOOK_RETRY_SCHEDULE: bad }, 'ROSTER_WEBHOOK_RETRY_SCHEDULE', /comma-separated delays/);
  });

  test('ROSTER_OIDC_RATE_LIMIT: sign-ins per minute per client address, half of them at once', () => {
    assert.deepEqual(loadConfig({ ROSTER_OIDC_RATE_LIMIT: '6000' }).signInRateLimit, { perMinute: 6000, burst: 3000 });
    for (const bad of ['0', '9', 'lots', '-1']) refuses({ ROSTER_OIDC_RATE_LIMIT: bad }, 'ROSTER_OIDC_RATE_LIMIT', /a whole number of sign-ins per minute from 10 to 1000000/);
  });

  test('ROSTER_WEBHOOK_LEASE_SECONDS', () => {
    assert.equal(loadConfig({ ROSTER_WEBHOOK_LEASE_SECONDS: '5' }).webhookLeaseMs, 5000);
    for (const bad of ['0', '-1', '1.5', '3601']) refuses({ ROSTER_WEBHOOK_LEASE_SECONDS: bad }, 'ROSTER_WEBHOOK_LEASE_SECONDS', /whole number of seconds/);
  });

  test('the limits: ROSTER_MAX_CONCURRENT_REQUESTS defaults to twice the PostgreSQL pool, 0 turns limits off, bad values are refused', () => {
    const postgres = { ROSTER_DATABASE_URL: 'postgres://roster@db/roster', ROSTER_DATABASE_POOL_SIZE: '15' };
    assert.deepEqual(loadConfig(postgres).admission, { maxConcurrent: 30, queueTimeoutMs: 2000, maxQueued: 240 });
    assert.deepEqual(loadConfig({ ROSTER_MAX_CONCURRENT_REQUESTS: '4', ROSTER_QUEUE_TIMEOUT_MS: '250' }).admission, { maxConcurrent: 4, queueTimeoutMs: 250, maxQueued: 32 });
    assert.equal(loadConfig({ ROSTER_MAX_CONCURRENT_REQUESTS: '0' }).admission, undefined);
    assert.deepEqual(loadConfig({ ROSTER_RATE_LIMIT: '1200' }).rateLimit, { perMinute: 1200, burst: 120 });
    assert.deepEqual(loadConfig({ ROSTER_RATE_LIMIT: '1200', ROSTER_RATE_LIMIT_BURST: '50' }).rateLimit, { perMinute: 1200, burst: 50 });
    assert.equal(loadConfig({ ROSTER_RATE_LIMIT: '0' }).rateLimit, undefined);
    refuses({ ROSTER_RATE_LIMIT: '100/s' }, 'ROSTER_RATE_LIMIT', /requests per minute/);
    refuses({ ROSTER_RATE_LIMIT: '0', ROSTER_RATE_LIMIT_BURST: '10' }, 'ROSTER_RATE_LIMIT_BURST', /unset/);
    refuses({ ROSTER_RATE_LIMIT_BURST: '0' }, 'ROSTER_RATE_LIMIT_BURST', /from 1/);
    refuses({ ROSTER_MAX_CONCURRENT_REQUESTS: '-1' }, 'ROSTER_MAX_CONCURRENT_REQUESTS', /whole number/);
    refuses({ ROSTER_QUEUE_TIMEOUT_MS: '2s' }, 'ROSTER_QUEUE_TIMEOUT_MS', /milliseconds/);
    // No limit, no queue: a queue timeout beside it would be silently ignored.
    refuses({ ROSTER_MAX_CONCURRENT_REQUESTS: '0', ROSTER_QUEUE_TIMEOUT_MS: '500' }, 'ROSTER_QUEUE_TIMEOUT_MS', /must be unset with ROSTER_MAX_CONCURRENT_REQUESTS=0/);
  });

  test('ROSTER_SECRET_KEY is 32 bytes as hex or base64; anything else is refused without echoing it', () => {
    const hex = 'ab'.repeat(32);
    assert.deepEqual(loadConfig({ ROSTER_SECRET_KEY: hex }).secretKey, Buffer.from(hex, 'hex'));
    const base64 = Buffer.alloc(32, 7).toString('base64');
    assert.deepEqual(loadConfig({ ROSTER_SECRET_KEY: base64 }).secretKey, Buffer.alloc(32, 7));
    refuses({ ROSTER_SECRET_KEY: 'my-password-123' }, 'ROSTER_SECRET_KEY', /^ROSTER_SECRET_KEY must be 32 random bytes written as 64 hexadecimal digits or as base64 .*15 characters long/);
    refuses({ ROSTER_SECRET_KEY: 'ab'.repeat(16) }, 'ROSTER_SECRET_KEY', /openssl rand -base64 32/);
    assert.throws(() => loadConfig({ ROSTER_SECRET_KEY: 'my-password-123' }), (error: Error) => !error.message.includes('my-password-123'));
  });

  test('ROSTER_PREVIOUS_SECRET_KEY is a key of its own, and only beside ROSTER_SECRET_KEY', () => {
    const current = 'ab'.repeat(32);
    const previous = 'cd'.repeat(32);
    assert.deepEqual(loadConfig({ ROSTER_SECRET_KEY: current, ROSTER_PREVIOUS_SECRET_KEY: previous }).previousSecretKey, Buffer.from(previous, 'hex'));
    refuses({ ROSTER_PREVIOUS_SECRET_KEY: previous }, 'ROSTER_PREVIOUS_SECRET_KEY', /must be unset while ROSTER_SECRET_KEY is not set/);
    refuses({ ROSTER_SECRET_KEY: current, ROSTER_PREVIOUS_SECRET_KEY: current }, 'ROSTER_PREVIOUS_SECRET_KEY', /must be another key than ROSTER_SECRET_KEY/);
    refuses({ ROSTER_SECRET_KEY: current, ROSTER_PREVIOUS_SECRET_KEY: 'my-password-123' }, 'ROSTER_PREVIOUS_SECRET_KEY', /^ROSTER_PREVIOUS_SECRET_KEY must be 32 random bytes/);
  });

  test('ROSTER_DATA_DIR is resolved against the working directory', () => {
    assert.equal(loadConfig({ ROSTER_DATA_DIR: 'state' }).dataDir, resolve(process.cwd(), 'state'));
  });

  test('the result is frozen, database location included', () => {
    const config = loadConfig({});
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.database));
  });

  test('empty variables count as unset', () => {
    assert.equal(loadConfig({ ROSTER_PORT: '', ROSTER_LOG_LEVEL: ' ' }).port, 8080);
  });

  test('ROSTER_PORT', () => {
    assert.equal(loadConfig({ ROSTER_PORT: '3000' }).port, 3000);
    assert.equal(loadConfig({ ROSTER_PORT: '65535' }).port, 65535);
    for (const bad of ['abc', '0', '65536', '-1', '80.5', '1e3', '0x50']) {
      refuses({ ROSTER_PORT: bad }, 'ROSTER_PORT', new RegExp(`an integer between 1 and 65535 \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_PORT example message', () => {
    assert.throws(() => loadConfig({ ROSTER_PORT: 'abc' }), { message: 'ROSTER_PORT must be an integer between 1 and 65535 (got "abc")' });
  });

  test('ROSTER_MAX_BODY_SIZE takes bytes, KiB or MiB, and refuses sizes that are surely a mistake', () => {
    assert.equal(loadConfig({ ROSTER_MAX_BODY_SIZE: '32MiB' }).maxBodySize, 32 * 1024 * 1024);
    assert.equal(loadConfig({ ROSTER_MAX_BODY_SIZE: '512 kib' }).maxBodySize, 512 * 1024);
    assert.equal(loadConfig({ ROSTER_MAX_BODY_SIZE: '1048576' }).maxBodySize, 1048576);
    assert.equal(loadConfig({ ROSTER_MAX_BODY_SIZE: '256MiB' }).maxBodySize, 256 * 1024 * 1024);
    for (const bad of ['20', '65535', '257MiB', '20MB', '1GiB', '1.5MiB', '-1', 'lots', '0x100000']) {
      refuses({ ROSTER_MAX_BODY_SIZE: bad }, 'ROSTER_MAX_BODY_SIZE', new RegExp(`from 64 KiB to 256 MiB, in bytes or with a KiB or MiB suffix, e\\.g\\. 32MiB \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_ACTIVITY_RETENTION_DAYS takes whole days from 1 to 3650', () => {
    assert.equal(loadConfig({ ROSTER_ACTIVITY_RETENTION_DAYS: '7' }).activityRetentionDays, 7);
    assert.equal(loadConfig({ ROSTER_ACTIVITY_RETENTION_DAYS: '3650' }).activityRetentionDays, 3650);
    for (const bad of ['0', '3651', '1.5', '-1', '30d', 'forever']) {
      refuses({ ROSTER_ACTIVITY_RETENTION_DAYS: bad }, 'ROSTER_ACTIVITY_RETENTION_DAYS', new RegExp(`from 1 to 3650 \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_AUDIT_RETENTION_DAYS is unset by default (the trail is kept for ever) and takes whole days from 1 to 3650', () => {
    assert.equal(loadConfig({ ROSTER_AUDIT_RETENTION_DAYS: '' }).auditRetentionDays, null);
    assert.equal(loadConfig({ ROSTER_AUDIT_RETENTION_DAYS: '365' }).auditRetentionDays, 365);
    assert.equal(loadConfig({ ROSTER_AUDIT_RETENTION_DAYS: '3650' }).auditRetentionDays, 3650);
    for (const bad of ['0', '3651', '1.5', '-1', '1y', 'forever']) {
      refuses({ ROSTER_AUDIT_RETENTION_DAYS: bad }, 'ROSTER_AUDIT_RETENTION_DAYS', new RegExp(`from 1 to 3650 \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_EVENT_RETENTION_DAYS takes whole days from 1 to 3650', () => {
    assert.equal(loadConfig({ ROSTER_EVENT_RETENTION_DAYS: '7' }).eventRetentionDays, 7);
    assert.equal(loadConfig({ ROSTER_EVENT_RETENTION_DAYS: '3650' }).eventRetentionDays, 3650);
    for (const bad of ['0', '3651', '1.5', '-3', 'thirty', '30d']) {
      refuses({ ROSTER_EVENT_RETENTION_DAYS: bad }, 'ROSTER_EVENT_RETENTION_DAYS', new RegExp(`whole number of days from 1 to 3650 \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_OIDC_ACCESS_TOKEN_TTL takes whole seconds from 30 to 86400', () => {
    assert.equal(loadConfig({ ROSTER_OIDC_ACCESS_TOKEN_TTL: '60' }).oidcAccessTokenTtlSeconds, 60);
    for (const bad of ['29', '86401', '1.5', '5m', '-1']) {
      refuses({ ROSTER_OIDC_ACCESS_TOKEN_TTL: bad }, 'ROSTER_OIDC_ACCESS_TOKEN_TTL', new RegExp(`from 30 to 86400 \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_SCIM_CURSOR_TIMEOUT takes seconds from 10 to a week', () => {
    assert.equal(loadConfig({ ROSTER_SCIM_CURSOR_TIMEOUT: '600' }).scimCursorTimeout, 600);
    assert.equal(loadConfig({ ROSTER_SCIM_CURSOR_TIMEOUT: '604800' }).scimCursorTimeout, 604800);
    for (const bad of ['9', '604801', '1h', '-5', '1.5']) {
      refuses({ ROSTER_SCIM_CURSOR_TIMEOUT: bad }, 'ROSTER_SCIM_CURSOR_TIMEOUT', new RegExp(`from 10 to 604800 \\(got "${bad.replace('.', '\\.')}"\\)`));
    }
  });

  test('ROSTER_HOST', () => {
    assert.equal(loadConfig({ ROSTER_HOST: '127.0.0.1' }).host, '127.0.0.1');
    assert.equal(loadConfig({ ROSTER_HOST: '::' }).host, '::');
  });

  test('ROSTER_BASE_URL defaults to localhost on the configured port', () => {
    assert.equal(loadConfig({ ROSTER_PORT: '9000' }).baseUrl, 'http://localhost:9000');
  });

  test('ROSTER_BASE_URL loses its trailing slash', () => {
    assert.equal(loadConfig({ ROSTER_BASE_URL: 'https://roster.example.com/' }).baseUrl, 'https://roster.example.com');
    assert.equal(loadConfig({ ROSTER_BASE_URL: 'https://roster.example.com//' }).baseUrl, 'https://roster.example.com');
    assert.equal(loadConfig({ ROSTER_BASE_URL: 'http://10.0.0.5:8080' }).baseUrl, 'http://10.0.0.5:8080');
  });

  test('ROSTER_BASE_URL with a path is refused: Roster is served at the root of its host', () => {
    for (const bad of ['https://example.com/roster', 'https://example.com/roster/', 'https://example.com/a/b']) {
      refuses({ ROSTER_BASE_URL: bad }, 'ROSTER_BASE_URL', /must not have a path: Roster must be served at the root of its host/);
    }
  });

  test('ROSTER_BASE_URL must be an absolute http(s) URL without query or fragment', () => {
    for (const bad of ['roster.example.com', '/roster', 'ftp://example.com', 'https://example.com/?a=1', 'https://example.com/?', 'https://example.com/#x']) {
      refuses({ ROSTER_BASE_URL: bad }, 'ROSTER_BASE_URL', /absolute http\(s\) URL without query, fragment/);
    }
  });

  test('ROSTER_BASE_URL must name a reachable host and port', () => {
    refuses({ ROSTER_BASE_URL: 'http://localhost:0' }, 'ROSTER_BASE_URL', /must not name port 0/);
    for (const bad of ['http://a..b', 'https://-bad-.com', 'https://roster.example.com.', 'https://bad-.example.com:8443']) {
      refuses({ ROSTER_BASE_URL: bad }, 'ROSTER_BASE_URL', /must name a host clients can reach/);
    }
    // What people do write: container service names, addresses, internationalised names.
    for (const [good, expected] of [
      ['http://roster_app:8080', 'http://roster_app:8080'],
      ['http://[::1]:8080', 'http://[::1]:8080'],
      ['http://10.0.0.5', 'http://10.0.0.5'],
      ['https://bücher.example', 'https://xn--bcher-kva.example'],
      ['http://roster', 'http://roster'],
    ] as const) {
      assert.equal(loadConfig({ ROSTER_BASE_URL: good }).baseUrl, expected);
    }
  });

  test('ROSTER_BASE_URL with credentials is refused without echoing the password', () => {
    refuses({ ROSTER_BASE_URL: 'https://admin:hunter2@example.com' }, 'ROSTER_BASE_URL', /admin:\*\*\*@example\.com/);
    assert.throws(() => loadConfig({ ROSTER_BASE_URL: 'https://admin:hunter2@example.com' }), (error: unknown) => !String(error).includes('hunter2'));
  });

  test('ROSTER_DATABASE_URL sqlite paths resolve against the working directory', () => {
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: 'sqlite:./db/x.db' }).database, { kind: 'sqlite', path: resolve(process.cwd(), 'db/x.db') });
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: 'sqlite:/var/lib/roster.db' }).database, { kind: 'sqlite', path: '/var/lib/roster.db' });
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: 'sqlite::memory:' }).database, { kind: 'sqlite', path: ':memory:' });
  });

  test('ROSTER_HOST with a port is refused, naming ROSTER_PORT; IPv6 addresses are not mistaken for one', () => {
    refuses({ ROSTER_HOST: '127.0.0.1:18811' }, 'ROSTER_HOST', /must be an address or host name without a port \(got "127\.0\.0\.1:18811"\): set the port with ROSTER_PORT/);
    refuses({ ROSTER_HOST: 'localhost:8080' }, 'ROSTER_HOST', /without a port/);
    for (const host of ['::1', '::', 'fe80::1%eth0', '2001:db8::7', '0.0.0.0', 'roster.internal']) assert.equal(loadConfig({ ROSTER_HOST: host }).host, host);
  });

  test('ROSTER_ADMIN_GROUP in quotes (kept by an env file) is refused: the quotes would be part of the name', () => {
    refuses({ ROSTER_ADMIN_GROUP: '"roster-administrators"' }, 'ROSTER_ADMIN_GROUP', /without surrounding quotes/);
    refuses({ ROSTER_ADMIN_GROUP: "'admins'" }, 'ROSTER_ADMIN_GROUP', /without surrounding quotes/);
    assert.equal(loadConfig({ ROSTER_ADMIN_GROUP: 'Bob\'s "admins"' }).adminGroup, 'Bob\'s "admins"');
  });

  test('ROSTER_DATABASE_URL forms that would open a file of a surprising name are refused, saying what was meant', () => {
    refuses({ ROSTER_DATABASE_URL: 'sqlite::memory' }, 'ROSTER_DATABASE_URL', /an in-memory database is sqlite::memory:/);
    refuses({ ROSTER_DATABASE_URL: 'sqlite:~/roster.db' }, 'ROSTER_DATABASE_URL', /write the full path: ~ is not expanded/);
    refuses({ ROSTER_DATABASE_URL: 'sqlite:file:x.db?mode=ro' }, 'ROSTER_DATABASE_URL', /not a file: URI/);
  });

  test('a PostgreSQL URL whose password holds @, / or # unencoded is refused without echoing any of the password, saying to percent-encode', () => {
    for (const [url, password] of [
      ['postgres://probe:secret/with/slash@127.0.0.1/db', 'secret/with/slash'],
      ['postgres://probe:p@sswd:w/rd#%?@127.0.0.1/db', 'p@sswd:w/rd#%?'],
      ['postgres://probe:pa#ss@127.0.0.1/db', 'pa#ss'],
    ] as const) {
      assert.throws(
        () => loadConfig({ ROSTER_DATABASE_URL: url }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.equal(error.variable, 'ROSTER_DATABASE_URL');
          for (const piece of password.split(/[@/:#%?]/).filter((part) => part.length > 2)) assert.ok(!error.message.includes(piece), `${piece} in ${error.message}`);
          assert.match(error.message, /postgres:\/\/probe:\*\*\*@127\.0\.0\.1\/db/);
          assert.match(error.message, /must be percent-encoded \(@ as %40, \/ as %2F\)/);
          return true;
        },
        url,
      );
    }
  });

  test('a variable that looks like a misspelling of one Roster reads is named with the one it meant; others are left alone', () => {
    assert.deepEqual(misspeltVariables({ ROSTER_DATABSE_URL: 'sqlite:x.db', ROSTER_SECERT_KEY: 'k', ROSTER_BASEURL: 'https://r.example.com', roster_port: '9000', ROSTER_RATE_LIMITS: '10' }), [
      'ROSTER_DATABSE_URL is not a variable Roster reads, so it is ignored: did you mean ROSTER_DATABASE_URL?',
      'ROSTER_SECERT_KEY is not a variable Roster reads, so it is ignored: did you mean ROSTER_SECRET_KEY?',
      'ROSTER_BASEURL is not a variable Roster reads, so it is ignored: did you mean ROSTER_BASE_URL?',
      'roster_port is not a variable Roster reads, so it is ignored: did you mean ROSTER_PORT?',
      'ROSTER_RATE_LIMITS is not a variable Roster reads, so it is ignored: did you mean ROSTER_RATE_LIMIT?',
    ]);
    assert.deepEqual(misspeltVariables({ ROSTER_DATABASE_URL: 'sqlite:x.db', ROSTER_TEST_POSTGRES_URL: 'postgres://x', ROSTER_SCREENSHOTS: '/tmp', PATH: '/bin' }), []);
  });

  test('ROSTER_DATABASE_URL postgres URLs are passed through', () => {
    for (const url of ['postgres://roster:pw@db:5432/roster', 'postgresql://db/roster']) {
      assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: url }).database, { kind: 'postgres', url });
    }
  });

  test('PostgreSQL pool size and TLS come from ROSTER_DATABASE_POOL_SIZE, sslmode and ROSTER_DATABASE_SSL_CA', () => {
    const url = 'postgres://roster:pw@db/roster?sslmode=verify-full';
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: url, ROSTER_DATABASE_POOL_SIZE: '25' }).database, { kind: 'postgres', url, poolSize: 25, tls: { mode: 'verify-full' } });
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: 'postgres://db/r?sslmode=require' }).database, { kind: 'postgres', url: 'postgres://db/r?sslmode=require', tls: { mode: 'require' } });
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: 'postgres://db/r?sslmode=disable' }).database, { kind: 'postgres', url: 'postgres://db/r?sslmode=disable' });
    for (const size of ['0', '1001', 'ten', '2.5']) {
      refuses({ ROSTER_DATABASE_URL: url, ROSTER_DATABASE_POOL_SIZE: size }, 'ROSTER_DATABASE_POOL_SIZE', /between 1 and 1000/);
    }
    refuses({ ROSTER_DATABASE_URL: 'postgres://db/r?sslmode=prefer' }, 'ROSTER_DATABASE_URL', /sslmode .*disable, require, verify-ca, verify-full \(got "prefer"\)/);
    refuses({ ROSTER_DATABASE_URL: url, ROSTER_DATABASE_SSL_CA: '/nonexistent/ca.pem' }, 'ROSTER_DATABASE_SSL_CA', /readable PEM file/);
    refuses({ ROSTER_DATABASE_URL: 'postgres://db/r?sslmode=require', ROSTER_DATABASE_SSL_CA: '/nonexistent/ca.pem' }, 'ROSTER_DATABASE_SSL_CA', /verify-ca or verify-full/);
    refuses({ ROSTER_DATABASE_URL: 'sqlite:./x.db', ROSTER_DATABASE_POOL_SIZE: '5' }, 'ROSTER_DATABASE_POOL_SIZE', /only applies to PostgreSQL/);
  });

  test('ROSTER_DATABASE_PREPARED_STATEMENTS turns the named prepared statements off for a pooler that cannot keep them', () => {
    const url = 'postgres://roster:pw@db/roster';
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: url }).database, { kind: 'postgres', url });
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: url, ROSTER_DATABASE_PREPARED_STATEMENTS: 'on' }).database, { kind: 'postgres', url });
    assert.deepEqual(loadConfig({ ROSTER_DATABASE_URL: url, ROSTER_DATABASE_PREPARED_STATEMENTS: 'OFF' }).database, { kind: 'postgres', url, preparedStatements: false });
    refuses({ ROSTER_DATABASE_URL: url, ROSTER_DATABASE_PREPARED_STATEMENTS: 'no' }, 'ROSTER_DATABASE_PREPARED_STATEMENTS', /must be on or off \(got "no"\)/);
    refuses({ ROSTER_DATABASE_URL: 'sqlite:./x.db', ROSTER_DATABASE_PREPARED_STATEMENTS: 'off' }, 'ROSTER_DATABASE_PREPARED_STATEMENTS', /only applies to PostgreSQL/);
  });

  test('ROSTER_DATABASE_URL of another kind is refused, password hidden', () => {
    refuses({ ROSTER_DATABASE_URL: 'mysql://root:secret@db/roster' }, 'ROSTER_DATABASE_URL', /sqlite:<path>, sqlite::memory: or postgres:\/\/.*\(got "mysql:\/\/root:\*\*\*@db\/roster"\)/);
    refuses({ ROSTER_DATABASE_URL: 'sqlite:' }, 'ROSTER_DATABASE_URL', /sqlite:<path>/);
    refuses({ ROSTER_DATABASE_URL: './roster.db' }, 'ROSTER_DATABASE_URL', /sqlite:<path>/);
  });

  test('ROSTER_METRICS_ALLOW lists the addresses and CIDR ranges that read /metrics without a token; loopback by default', () => {
    assert.deepEqual(loadConfig({}).metricsAllow, [
      { address: '127.0.0.0', prefix: 8, family: 'ipv4' },
      { address: '::1', prefix: 128, family: 'ipv6' },
    ]);
    assert.deepEqual(loadConfig({ ROSTER_METRICS_ALLOW: ' 10.0.0.0/8, 192.0.2.7 ,fd00::/8' }).metricsAllow, [
      { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
      { address: '192.0.2.7', prefix: 32, family: 'ipv4' },
      { address: 'fd00::', prefix: 8, family: 'ipv6' },
    ]);
    assert.deepEqual(loadConfig({ ROSTER_METRICS_ALLOW: 'none' }).metricsAllow, []);
    refuses({ ROSTER_METRICS_ALLOW: 'localhost' }, 'ROSTER_METRICS_ALLOW', /IP addresses or CIDR ranges.*"localhost" is not an IP address/);
    refuses({ ROSTER_METRICS_ALLOW: '10.0.0.0/33' }, 'ROSTER_METRICS_ALLOW', /"10\.0\.0\.0\/33" has a prefix length outside 0–32/);
    refuses({ ROSTER_METRICS_ALLOW: '10.0.0.0/8/1' }, 'ROSTER_METRICS_ALLOW', /not an IP address/);
  });

  test('ROSTER_TRUSTED_PROXIES lists the proxies whose X-Forwarded-For is believed; none by default', () => {
    assert.deepEqual(loadConfig({}).trustedProxies, []);
    assert.deepEqual(loadConfig({ ROSTER_TRUSTED_PROXIES: 'none' }).trustedProxies, []);
    assert.deepEqual(loadConfig({ ROSTER_TRUSTED_PROXIES: '127.0.0.1, 10.1.0.0/16' }).trustedProxies, [
      { address: '127.0.0.1', prefix: 32, family: 'ipv4' },
      { address: '10.1.0.0', prefix: 16, family: 'ipv4' },
    ]);
    refuses({ ROSTER_TRUSTED_PROXIES: 'nginx' }, 'ROSTER_TRUSTED_PROXIES', /ROSTER_TRUSTED_PROXIES must be comma-separated IP addresses.*"nginx" is not an IP address/);
  });

  test('ROSTER_LOG_LEVEL', () => {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) {
      assert.equal(loadConfig({ ROSTER_LOG_LEVEL: level }).logLevel, level);
    }
    assert.equal(loadConfig({ ROSTER_LOG_LEVEL: 'DEBUG' }).logLevel, 'debug');
    refuses({ ROSTER_LOG_LEVEL: 'verbose' }, 'ROSTER_LOG_LEVEL', /one of fatal, error, warn, info, debug, trace, silent \(got "verbose"\)/);
  });

  test('ROSTER_ADMIN_GROUP names the administrators\' group; a name no group can have is refused', () => {
    assert.equal(loadConfig({ ROSTER_ADMIN_GROUP: ' Roster Admins ' }).adminGroup, 'Roster Admins');
    refuses({ ROSTER_ADMIN_GROUP: 'a'.repeat(256) }, 'ROSTER_ADMIN_GROUP', /must be a name a group can have \(size must be between 1 and 255;/);
    refuses({ ROSTER_ADMIN_GROUP: 'admins\u0007' }, 'ROSTER_ADMIN_GROUP', /must not contain control characters .*got "admins\\u\{0007\}"/);
    // One that looks like the default but is not: every administrator would lose their rights.
    refuses({ ROSTER_ADMIN_GROUP: 'roster-administrators\u200b' }, 'ROSTER_ADMIN_GROUP', /invisible or text-direction characters .*got "roster-administrators\\u\{200B\}"/);
  });

  test('ROSTER_COOKIE_DOMAIN must contain the base URL\'s host, and is kept without its leading dot', () => {
    const base = { ROSTER_BASE_URL: 'https://roster.example.com' };
    assert.equal(loadConfig({ ...base, ROSTER_COOKIE_DOMAIN: '.Example.COM' }).cookieDomain, 'example.com');
    assert.equal(loadConfig({ ...base, ROSTER_COOKIE_DOMAIN: 'roster.example.com' }).cookieDomain, 'roster.example.com');
    refuses({ ...base, ROSTER_COOKIE_DOMAIN: '.example.org' }, 'ROSTER_COOKIE_DOMAIN', /the host of ROSTER_BASE_URL \(roster\.example\.com\) belongs to/);
    refuses({ ...base, ROSTER_COOKIE_DOMAIN: '.ample.com' }, 'ROSTER_COOKIE_DOMAIN', /belongs to/);
    refuses({ ...base, ROSTER_COOKIE_DOMAIN: '.com' }, 'ROSTER_COOKIE_DOMAIN', /at least two labels/);
    refuses({ ...base, ROSTER_COOKIE_DOMAIN: 'https://example.com' }, 'ROSTER_COOKIE_DOMAIN', /DNS domain/);
    refuses({ ROSTER_BASE_URL: 'http://10.0.0.5:8080', ROSTER_COOKIE_DOMAIN: '0.0.5' }, 'ROSTER_COOKIE_DOMAIN', /DNS domain/);
  });

  test('ROSTER_TRUSTED_HOSTS is a comma-separated list of bare host names', () => {
    assert.deepEqual(loadConfig({ ROSTER_TRUSTED_HOSTS: ' Grafana.Example.org, wiki.example.net,,grafana.example.org' }).trustedHosts, ['grafana.example.org', 'wiki.example.net']);
    assert.deepEqual(loadConfig({ ROSTER_TRUSTED_HOSTS: 'bücher.example' }).trustedHosts, ['xn--bcher-kva.example']);
    // IPv6 addresses, bracketed or not, as a URL's hostname spells them.
    assert.deepEqual(loadConfig({ ROSTER_TRUSTED_HOSTS: '[2001:DB8::5],::1,2001:db8:0:0:0:0:0:5' }).trustedHosts, ['[2001:db8::5]', '[::1]']);
    for (const entry of ['https://grafana.example.org', 'grafana.example.org:3000', 'grafana.example.org/path', 'user@host', 'a b', 'fe80::1%eth0', '[::1]:8080', 'a..b']) {
      refuses({ ROSTER_TRUSTED_HOSTS: `ok.example.org,${entry}` }, 'ROSTER_TRUSTED_HOSTS', /without scheme, port or path/);
    }
  });
});

describe('initialPasswordFileName', () => {
  const sqlite = (file: string) => initialPasswordFileName({ kind: 'sqlite', path: `/var/lib/roster/${file}` });
  const postgres = (url: string) => initialPasswordFileName({ kind: 'postgres', url, poolSize: 10, preparedStatements: true } as Parameters<typeof initialPasswordFileName>[0]);

  test('a name every file system takes is kept as it is', () => {
    assert.equal(sqlite('roster.db'), 'initial-admin-password');
    assert.equal(sqlite('staging.db'), 'initial-admin-password.staging.db');
    assert.equal(postgres('postgres://roster:x@db.internal:5432/roster'), 'initial-admin-password.postgres-db.internal-5432-roster');
  });

  test('two databases whose names differ only in characters a file name cannot keep get a file each', () => {
    const pairs: Array<[string, string]> = [
      ['a b.db', 'a_b.db'],
      ['über.db', 'öber.db'],
      ['.hidden.db', '_hidden.db'],
      [`${'x'.repeat(240)}-one.db`, `${'x'.repeat(240)}-two.db`],
    ];
    for (const [one, other] of pairs) {
      assert.notEqual(sqlite(one), sqlite(other), `${one} and ${other}`);
      for (const name of [sqlite(one), sqlite(other)]) {
        assert.match(name, /^initial-admin-password\.[A-Za-z0-9._-]+$/);
        assert.ok(name.length <= 200, name);
      }
    }
    assert.notEqual(postgres('postgres://roster:x@db:5432/my%20db'), postgres('postgres://roster:x@db:5432/my_db'));
    assert.equal(sqlite('a b.db'), sqlite('a b.db'), 'the same database, the same file at every start');
  });
});
