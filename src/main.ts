/**
 * The composition root: config → store → services → HTTP. Only this file opens a port and
 * handles signals.
 */
import { firstStartMessage } from './cli/first-start.ts';
import type { Config } from './config.ts';
import { buildApp } from './http/app.ts';
import { startDeliveries } from './delivery/worker.ts';
import { EVENT_CLEANUP_CHECK_MS } from './directory/event-feed.ts';
import { runPeriodically } from './periodic.ts';
import { createServices } from './services.ts';
import { describeLocation, openStore } from './store/index.ts';

/** How often each instance deletes the provisioning activity past its retention. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

/** Runs the server until SIGTERM or SIGINT, then shuts down gracefully. */
export async function serve(config: Config): Promise<void> {
  const store = await openStore(config.database);
  const services = createServices(store, { baseUrl: config.baseUrl, adminGroup: config.adminGroup, eventRetentionDays: config.eventRetentionDays });
  // Of several instances starting on a new database, exactly one creates and prints it.
  const issued = await services.administrators.ensureAdministrator();
  const app = await buildApp({ services, baseUrl: config.baseUrl, logger: { level: config.logLevel }, maxBodySize: config.maxBodySize });
  // Every instance runs the clean-up: deleting expired rows in batches is idempotent.
  const retention = runPeriodically(async () => {
    try {
      const deleted = await services.activity.purge(config.activityRetentionDays);
      if (deleted > 0) app.log.info({ deleted, retentionDays: config.activityRetentionDays }, 'deleted provisioning activity older than the retention period');
    } catch (error) {
      app.log.warn({ err: error }, 'the provisioning activity clean-up failed; it runs again within the hour');
    }
  }, RETENTION_INTERVAL_MS);
  // Every instance asks; the database lets one of them clean the event feed per interval.
  const eventRetention = runPeriodically(async () => {
    try {
      const deleted = await services.eventFeed.purge();
      if (deleted > 0) app.log.info({ deleted, retentionDays: config.eventRetentionDays }, 'deleted change events older than the retention period');
    } catch (error) {
      app.log.warn({ err: error }, 'event feed clean-up failed; trying again later');
    }
  }, EVENT_CLEANUP_CHECK_MS);

  // Every instance delivers webhooks; the database gives each endpoint to one of them at a time.
  const deliveries = startDeliveries(store, services.eventFeed, {
    retrySchedule: config.webhookRetrySchedule,
    leaseMs: config.webhookLeaseMs,
    retentionDays: config.eventRetentionDays,
    log: app.log,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    try {
      // close() stops accepting connections and waits for requests in flight.
      await app.close();
      await deliveries.stop();
      await retention.stop();
      await eventRetention.stop();
      await store.close();
      app.log.info('stopped cleanly');
      process.exitCode = 0;
    } catch (error) {
      app.log.error({ err: error }, 'shutdown failed');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  const where = describeLocation(config.database);
  const enabled = (await services.provisioning.status()).enabled;
  const consoleUrl = `${config.baseUrl}/`;
  process.stdout.write(
    [
      '',
      `Roster is running on ${config.baseUrl} (database: ${where})`,
      `Console: ${consoleUrl}`,
      `SCIM base URL (the IdP's "tenant URL"): ${config.baseUrl}/api/scim/v2`,
      enabled
        ? 'SCIM provisioning is enabled.'
        : 'SCIM provisioning is off. Next: sign in to the console, or configure SAML with `npm run roster -- saml configure …`, then `npm run roster -- scim enable`.',
      'Create a token for your IdP with: npm run roster -- tokens create --name <name>',
      // Written to the console, never through the logger, so it does not reach log storage.
      ...(issued ? ['', firstStartMessage(issued.login, issued.password, consoleUrl)] : []),
      '',
    ].join('\n') + '\n',
  );
}
