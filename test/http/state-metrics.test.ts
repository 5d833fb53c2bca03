/**
 * The gauges of shared state in GET /metrics (state-metrics.ts) and the clock's, over sources
 * that fail: a value that could not be read is no sample at all, never a 0 that alerts would
 * take for "SCIM is off", "the IdP last called in 1970" or "the clocks agree".
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createMetrics } from '../../src/http/metrics.ts';
import { STATE_READ_TIMEOUT_MS, type StateSources } from '../../src/http/state-metrics.ts';
import type { SamlConfig } from '../../src/auth/saml-config.ts';
import type { Store } from '../../src/store/index.ts';

/** A PostgreSQL store as far as the metrics see one: a pool, statements nobody observes here. */
const postgresLike = {
  observeQueries: () => () => {},
  poolUse: () => ({ total: 1, idle: 1, waiting: 0, max: 10, longReads: { running: 0, waiting: 0 } }),
} as unknown as Store;

const unreachable = (): Promise<never> => Promise.reject(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));

function sources(overrides: Partial<{ saml: () => Promise<SamlConfig | undefined>; scim: () => Promise<{ enabled: boolean }>; latest: () => Promise<string | undefined> }> = {}): StateSources {
  return {
    saml: { get: overrides.saml ?? (async () => undefined) },
    scimState: { read: (overrides.scim ?? (async () => ({ enabled: true }))) as StateSources['scimState']['read'] },
    activity: { latestAuthenticatedAt: overrides.latest ?? (async () => undefined) },
    webhooks: { progress: async () => [] },
  };
}

/** The sample lines of `name` (without labels or with), none when it has no value. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
}

describe('GET /metrics: gauges whose value could not be read', () => {
  test('a database out of reach leaves every gauge read from it without a sample, not at 0', async () => {
    const metrics = createMetrics(postgresLike, { measure: unreachable }, undefined, sources({ saml: unreachable, scim: unreachable, latest: unreachable }));
    try {
      const text = await metrics.render();
      for (const name of ['roster_scim_provisioning_enabled', 'roster_scim_last_request_timestamp_seconds', 'roster_clock_offset_seconds', 'roster_saml_certificate_expiry_timestamp_seconds', 'roster_webhook_enabled']) {
        assert.deepEqual(samples(text, name), [], `${name}:\n${text}`);
        assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'), 'still declared');
      }
      assert.deepEqual(samples(text, 'roster_db_pool_max_connections'), ['roster_db_pool_max_connections 10'], 'what the instance knows of itself is there');
    } finally {
      metrics.close();
    }
  });

  test('no SCIM request kept: no time of the last one, while SCIM on is said', async () => {
    const metrics = createMetrics(postgresLike, { measure: async () => 2 }, undefined, sources());
    try {
      const text = await metrics.render();
      assert.deepEqual(samples(text, 'roster_scim_provisioning_enabled'), ['roster_scim_provisioning_enabled 1']);
      assert.deepEqual(samples(text, 'roster_scim_last_request_timestamp_seconds'), [], text);
      assert.deepEqual(samples(text, 'roster_clock_offset_seconds'), ['roster_clock_offset_seconds 0.002']);
    } finally {
      metrics.close();
    }
  });

  test('a gauge read again once the database answers has its value back', async () => {
    let reachable = false;
    const latest = async (): Promise<string> => {
      if (!reachable) return unreachable();
      return '2026-12-01T10:00:00.000Z';
    };
    const metrics = createMetrics(postgresLike, { measure: async () => 0 }, undefined, sources({ latest }));
    try {
      assert.deepEqual(samples(await metrics.render(), 'roster_scim_last_request_timestamp_seconds'), []);
      reachable = true;
      assert.deepEqual(samples(await metrics.render(), 'roster_scim_last_request_timestamp_seconds'), [`roster_scim_last_request_timestamp_seconds ${Date.parse('2026-12-01T10:00:00.000Z') / 1000}`]);
      reachable = false;
      assert.deepEqual(samples(await metrics.render(), 'roster_scim_last_request_timestamp_seconds'), [], 'gone again, not left at its last value');
    } finally {
      metrics.close();
    }
  });
});

describe('GET /metrics: a database that does not answer', () => {
  test('the scrape ends within STATE_READ_TIMEOUT_MS, without the gauges read from it, and the next scrapes add no read while the first is held', { timeout: 15_000 }, async () => {
    const reads = { saml: 0, scim: 0, latest: 0, progress: 0, clock: 0 };
    const never = <T>(what: keyof typeof reads) => (): Promise<T> => {
      reads[what] += 1;
      return new Promise<T>(() => {});
    };
    const hanging: StateSources = {
      saml: { get: never('saml') },
      scimState: { read: never('scim') },
      activity: { latestAuthenticatedAt: never('latest') },
      webhooks: { progress: never('progress') },
    };
    const metrics = createMetrics(postgresLike, { measure: never('clock') }, undefined, hanging);
    try {
      const started = Date.now();
      const text = await metrics.render();
      const took = Date.now() - started;
      assert.ok(took >= STATE_READ_TIMEOUT_MS - 50 && took < STATE_READ_TIMEOUT_MS + 1000, `took ${took} ms`);
      assert.deepEqual(samples(text, 'roster_scim_provisioning_enabled'), []);
      assert.deepEqual(samples(text, 'roster_clock_offset_seconds'), []);
      assert.deepEqual(samples(text, 'roster_db_pool_waiting'), ['roster_db_pool_waiting 0'], 'what the instance knows of itself is answered');
      await metrics.render();
      assert.deepEqual(reads, { saml: 1, scim: 1, latest: 1, progress: 1, clock: 1 }, 'one read each, shared by both scrapes (and by the three webhook gauges)');
    } finally {
      metrics.close();
    }
  });
});
