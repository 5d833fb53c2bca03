/**
 * Gauges of what will stop working unless someone acts, read from the database at each scrape
 * of GET /metrics: the SAML certificates' expiry dates, whether the identity provider still
 * calls, and whether each webhook endpoint keeps up. Unlike the request counters (metrics.ts),
 * these describe shared state: every instance reads the same rows and reports the same values,
 * so alerts aggregate them with `max` or `min` across instances, never `sum`
 * (docs/deploy.md, "Alerts worth having"). A database out of reach, or one that does not answer
 * within STATE_READ_TIMEOUT_MS, leaves them without a value rather than failing the scrape, and so
 * does it roster_clock_offset_seconds (metrics.ts).
 */
import { X509Certificate } from 'node:crypto';
import { Gauge, type Registry } from 'prom-client';
import { spKeyPairsOf, type SamlConfigService } from '../auth/saml-config.ts';
import type { ProvisioningActivity } from '../directory/activity.ts';
import type { ScimState } from '../directory/scim-state.ts';
import type { WebhookBacklog, Webhooks } from '../directory/webhooks.ts';

/** Where the gauges read from: the services every instance shares. */
export interface StateSources {
  readonly saml: Pick<SamlConfigService, 'get'>;
  readonly scimState: Pick<ScimState, 'read'>;
  readonly activity: Pick<ProvisioningActivity, 'latestAuthenticatedAt'>;
  readonly webhooks: Pick<Webhooks, 'progress'>;
}

/**
 * Leaves `gauge` without a sample in the next exposition. prom-client's `reset()` puts a gauge
 * without labels back at 0, which is a value: "SCIM provisioning is off", "the IdP last called
 * in 1970", "the clocks agree". A gauge whose value could not be read must have none, so that
 * alerts see nothing rather than a false reading.
 */
export function leaveWithoutValue(gauge: Gauge): void {
  gauge.reset();
  gauge.remove({});
}

/** Unix seconds of an ISO 8601 instant. */
function seconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

/**
 * How long a scrape waits for what it reads from the database before it leaves those gauges
 * without a value. A database that stops answering (a failover, a network that drops packets)
 * holds a statement until its 30 s deadline, longer than Prometheus waits for a scrape (10 s by
 * default): the whole scrape would fail, every metric of the instance lost (the pool's and the
 * requests' that would show why) and `up` at 0, as if the instance were down.
 */
export const STATE_READ_TIMEOUT_MS = 2_000;

/**
 * `read`, shared while it is under way: by the gauges of one scrape (prom-client collects every
 * gauge at once, each on its own, and three gauges show each endpoint's progress, which one read
 * gives), and by the scrapes that come while a database that does not answer holds it, so that
 * they add no statement of their own. Each call waits for it at most `timeoutMs`, then gives
 * undefined, as it does when the read fails; a call after the read ended reads again.
 */
export function boundedRead<T>(read: () => Promise<T>, timeoutMs: number = STATE_READ_TIMEOUT_MS): () => Promise<T | undefined> {
  let pending: Promise<T | undefined> | undefined;
  return () => {
    pending ??= Promise.resolve()
      .then(read)
      .catch(() => undefined)
      .finally(() => {
        pending = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, timeoutMs, undefined);
    });
    return Promise.race([pending, late]).finally(() => clearTimeout(timer));
  };
}

/** Registers the gauges in `registers`; `now` (milliseconds) is for tests. */
export function registerStateMetrics(registers: Registry[], sources: StateSources, now: () => number = Date.now): void {
  const samlConfig = boundedRead(() => sources.saml.get());
  new Gauge({
    name: 'roster_saml_certificate_expiry_timestamp_seconds',
    help: 'When each SAML certificate expires (notAfter, Unix seconds), by role (idp: trusted to sign responses; sp: Roster\'s own current one; sp-next: its next ones during a rollover) and SHA-256 fingerprint. Sign-in stops when every idp certificate has expired.',
    labelNames: ['role', 'fingerprint'],
    registers,
    async collect() {
      const config = await samlConfig();
      this.reset();
      if (config === undefined) return;
      const roles = [
        ...config.certificates.map((pem) => ['idp', pem] as const),
        // The current pair apart from the next ones: an alert on `sp` must not clear because a next
        // pair was added, while the current one still signs and expires first.
        ...spKeyPairsOf(config).map((pair, index) => [index === 0 ? 'sp' : 'sp-next', pair.certificate] as const),
      ];
      for (const [role, pem] of roles) {
        try {
          const certificate = new X509Certificate(pem);
          this.set({ role, fingerprint: certificate.fingerprint256 }, seconds(new Date(certificate.validTo).toISOString()));
        } catch {
          // A stored certificate is validated when it is saved; one that cannot be read has no date to show.
        }
      }
    },
  });

  /** A gauge of one value, none when `read` gives none or the database cannot be read in time. */
  const single = (name: string, help: string, read: () => Promise<number | undefined>): void => {
    const bounded = boundedRead(read);
    new Gauge({
      name,
      help,
      registers,
      async collect() {
        const value = await bounded();
        if (value === undefined) leaveWithoutValue(this);
        else this.set(value);
      },
    });
  };
  single('roster_scim_provisioning_enabled', 'Whether SCIM provisioning is on (1) or off (0).', async () => ((await sources.scimState.read()).enabled ? 1 : 0));
  single(
    'roster_scim_last_request_timestamp_seconds',
    'When the latest SCIM request with a valid token arrived, whatever its answer (Unix seconds); absent when none is kept (ROSTER_ACTIVITY_RETENTION_DAYS).',
    async () => {
      const at = await sources.activity.latestAuthenticatedAt();
      return at === undefined ? undefined : seconds(at);
    },
  );

  const progress = boundedRead(() => sources.webhooks.progress());
  /** A gauge with one value per endpoint, none when the database cannot be read in time. */
  const perEndpoint = (name: string, help: string, value: (endpoint: WebhookBacklog) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['webhook'],
      registers,
      async collect() {
        const endpoints = await progress();
        this.reset();
        for (const endpoint of endpoints ?? []) this.set({ webhook: endpoint.id }, value(endpoint));
      },
    });
  };
  perEndpoint('roster_webhook_enabled', 'Whether each webhook endpoint is enabled (1) or disabled (0: by an administrator, a 410 Gone, or failures for the whole retry schedule).', (endpoint) => (endpoint.enabled ? 1 : 0));
  perEndpoint('roster_webhook_failed_attempts', 'Failed attempts at the event each webhook endpoint is at (0 when its last attempt succeeded).', (endpoint) => endpoint.failedAttempts);
  perEndpoint('roster_webhook_lag_seconds', 'How long ago the oldest event each webhook endpoint has not yet been given occurred (0 when it has caught up).', (endpoint) =>
    endpoint.oldestPendingAt === null ? 0 : Math.max(0, (now() - Date.parse(endpoint.oldestPendingAt)) / 1000),
  );
}
