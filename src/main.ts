/**
 * The composition root: config → store → services → HTTP. Only this file opens a port and
 * handles signals.
 */
import { deliverFirstStartPassword, PasswordFileNotWritten, type FirstStartDelivery } from './first-start.ts';
import { ConfigError, initialPasswordDirectory, initialPasswordFileName, misspeltVariables, type Config } from './config.ts';
import { describeCaseConflict } from './directory/case-conflicts.ts';
import { buildApp } from './http/app.ts';
import { SHUTDOWN_DEADLINE_MS } from './http/draining.ts';
import { describeListening } from './listening.ts';
import { startDeliveries } from './delivery/worker.ts';
import { startLogoutDeliveries } from './delivery/logouts.ts';
import { EVENT_CLEANUP_CHECK_MS } from './directory/event-feed.ts';
import { runEachStep, runPeriodically, type CleanupStep, type Periodic } from './periodic.ts';
import pino from 'pino';
import { createServices } from './services.ts';
import { describeLocation, openStore, QUERY_DEADLINE_MS, type SecretsReport } from './store/index.ts';
import { sqliteExposure } from './store/sqlite-permissions.ts';
import { lowDiskWarning } from './store/sqlite-disk.ts';
import { clockOffsetWarning } from './store/clock.ts';
import { installationId } from './directory/installation.ts';
import { ROSTER_VERSION } from './version.ts';

/** How often each instance deletes the provisioning activity past its retention. */
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
/** How often each instance deletes expired OpenID Connect rows (sign-ins in progress among them). */
const OIDC_CLEANUP_INTERVAL_MS = 5 * 60 * 1000;
const CLOCK_CHECK_INTERVAL_MS = 5 * 60 * 1000;
/** How often `roster serve` looks at the free space of a SQLite database's disk. */
const DISK_CHECK_INTERVAL_MS = 5 * 60 * 1000;

/** Runs the server until SIGTERM or SIGINT, then shuts down gracefully. */
export async function serve(config: Config): Promise<void> {
  // A wrong ROSTER_SECRET_KEY, or none while secrets are sealed, stops start-up here.
  let secrets: SecretsReport = { sealed: 0, resealed: 0 };
  // Migrations run before the server listens; a large directory's take a while, and an
  // orchestrator watching /livez must be told why it does not answer yet.
  let migrating: { readonly pending: readonly string[]; readonly startedAt: number } | undefined;
  let applied: readonly string[] = [];
  const startLog = pino({ level: config.logLevel });
  const store = await openStore(config.database, {
    secretKey: config.secretKey,
    previousSecretKey: config.previousSecretKey,
    queryDeadlineMs: QUERY_DEADLINE_MS,
    onSecrets: (report) => (secrets = report),
    onMigrating: (pending) => {
      migrating = { pending, startedAt: Date.now() };
      startLog.info({ migrations: pending }, `applying ${pending.length} database migration${pending.length === 1 ? '' : 's'} before serving; /healthz and /livez answer once done (docs/deploy.md#upgrading)`);
    },
    onMigrated: (names) => (applied = names),
  });
  if (migrating !== undefined) {
    const durationMs = Date.now() - migrating.startedAt;
    // Instances starting together all see the migrations pending; one applies them, the others wait for its lock.
    if (applied.length > 0) startLog.info({ migrations: applied, durationMs }, 'database migrations applied');
    else startLog.info({ migrations: migrating.pending, durationMs }, 'database migrations applied by another instance while this one waited for them');
  }
  // What a failed start closes before the error goes up: an open pool (its connections) or app
  // would keep the process running, serving nothing, where a supervisor waits for it to exit
  // and restart it. From the moment the server listens, closeAll (below) closes them.
  const opened: Array<() => Promise<unknown>> = [() => store.close()];
  const closingOnFailure = async <T>(step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      for (const close of opened) await close().catch(() => undefined);
      throw error;
    }
  };
  const services = createServices(store, {
    baseUrl: config.baseUrl,
    adminGroup: config.adminGroup,
    cookieDomain: config.cookieDomain,
    scimCursorTimeout: config.scimCursorTimeout,
    rateLimit: config.rateLimit,
    signInRateLimit: config.signInRateLimit,
    eventRetentionDays: config.eventRetentionDays,
    initialPasswordDirectory: initialPasswordDirectory(config),
    initialPasswordName: initialPasswordFileName(config.database),
  });
  const consoleUrl = `${config.baseUrl}/`;
  // Of several instances starting on a new database, exactly one creates and prints it. Its
  // password is written before the administrator is committed: a start that fails or is killed
  // later (even a moment later) does not lose it, since a later start would not show it again.
  let firstStart: FirstStartDelivery | undefined;
  try {
    await closingOnFailure(() =>
      services.administrators.ensureAdministrator((issued) => {
        firstStart = deliverFirstStartPassword(issued, process.stderr.isTTY === true, services.initialPassword, consoleUrl);
      }),
    );
  } catch (error) {
    if (!(error instanceof PasswordFileNotWritten)) throw error;
    throw new ConfigError('ROSTER_DATA_DIR', `roster: ${error.message}. Make ROSTER_DATA_DIR writable, or create it with its password printed: npm run roster -- admin reset-password`);
  }
  // Made at the first start, so that every backup of the database carries it (a restore checks it).
  await closingOnFailure(() => installationId(store));
  const app = await closingOnFailure(() => buildApp({
    services,
    baseUrl: config.baseUrl,
    logger: { level: config.logLevel },
    maxBodySize: config.maxBodySize,
    cookieDomain: config.cookieDomain,
    trustedHosts: config.trustedHosts,
    oidcAccessTokenTtlSeconds: config.oidcAccessTokenTtlSeconds,
    ...(config.admission !== undefined ? { admission: config.admission } : {}),
    metricsAllow: config.metricsAllow,
    trustedProxies: config.trustedProxies,
  }));
  opened.unshift(() => app.close());
  for (const warning of misspeltVariables()) app.log.warn(warning);
  // The path only, never the password: this line goes to log storage.
  if (firstStart?.file !== undefined) app.log.warn({ file: firstStart.file }, `the first-start password of "${firstStart.login}" is in ${firstStart.file}; it is deleted once the password is changed`);
  const discardStaleInitialPassword = async (): Promise<void> => {
    if (await services.administrators.discardStaleInitialPassword()) {
      app.log.info({ file: services.initialPassword?.path }, 'deleted the first-start password file: admin\'s password was changed (on another instance, or by a command elsewhere)');
    }
  };
  await closingOnFailure(discardStaleInitialPassword);

  // Open now (its -wal and -shm exist): said at every start, since group read may be on purpose.
  if (config.database.kind === 'sqlite' && config.database.path !== ':memory:') {
    const exposure = sqliteExposure(config.database.path);
    if (exposure !== undefined) app.log.warn({ paths: exposure.paths }, exposure.message);
  }
  // Names that migration 011 found equal regardless of case: said at every start until resolved.
  const conflicts = await closingOnFailure(() => services.caseConflicts.list());
  for (const conflict of conflicts) app.log.warn({ key: conflict.key, ids: conflict.members.map((member) => member.id) }, `name conflict: ${describeCaseConflict(conflict)}`);
  const keyId = store.secrets.keyId ?? '';
  const { sealed, resealed, waitingFor } = secrets;
  if (sealed > 0) app.log.info({ sealed, keyId }, `encrypted ${sealed} stored secret${sealed === 1 ? '' : 's'} with ROSTER_SECRET_KEY (key ${keyId})`);
  if (resealed > 0) app.log.info({ resealed, keyId }, `re-encrypted ${resealed} stored secret${resealed === 1 ? '' : 's'} from ROSTER_PREVIOUS_SECRET_KEY to ROSTER_SECRET_KEY (key ${keyId})`);
  // Said at every start until done: the secrets stay as they are while an instance could not read them sealed.
  if (waitingFor !== undefined) {
    app.log.warn(
      { keyId, waitingFor },
      `stored secrets are not encrypted with ROSTER_SECRET_KEY (key ${keyId}) yet: other Roster processes without that key use the database (${waitingFor}). ` +
        'Once every instance has it, the last one to start encrypts them, or run `roster secrets seal` (docs/operations.md#secrets-at-rest-roster_secret_key)',
    );
  }
  // The OpenID provider's keys exist before the first request (created by the first instance).
  await closingOnFailure(() => services.oidc.loadKeys());
  // Before the first lease or rate-limit budget is written (the periodic check below warns).
  await services.clock.align().catch(() => undefined);
  // Every instance delivers webhooks; the database gives each endpoint to one of them at a time.
  const deliveries = startDeliveries(store, services.eventFeed, {
    retrySchedule: config.webhookRetrySchedule,
    leaseMs: config.webhookLeaseMs,
    retentionDays: config.eventRetentionDays,
    log: app.log,
    now: services.clock.now,
  });
  // Every instance sends the applications' back-channel logouts; the database gives each to one of them.
  const logouts = startLogoutDeliveries(store, {
    issuer: config.baseUrl,
    log: app.log,
    observe: (outcome) => app.metrics.backchannelLogout(outcome),
    now: services.clock.now,
  });

  /** The retention clean-ups, started once the server listens. */
  const cleanups: Periodic[] = [];

  /** Stops the background work and closes the server and the database: a stop, or a failed start. */
  const closeAll = async (): Promise<void> => {
    // close() stops accepting connections and waits for requests in flight; their connections
    // close after their answer (draining.ts).
    await app.close();
    await deliveries.stop();
    await logouts.stop();
    for (const cleanup of cleanups) await cleanup.stop();
    // app.close() settles the provisioning activity too, but a probe saw a SCIM request answered
    // during the stop observed after it: its activity was written after the store closed, and lost.
    await app.scimActivity.settle();
    await store.close();
  };

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    // Whatever is still open at the deadline (a slow request, a client trickling its body) is
    // cut, so that the process exits within the orchestrator's grace period (draining.ts).
    const deadline = setTimeout(() => {
      app.log.warn({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutting down: closing the connections still open at the deadline');
      app.server.closeAllConnections();
    }, SHUTDOWN_DEADLINE_MS);
    try {
      await closeAll().finally(() => clearTimeout(deadline));
      app.log.info('stopped cleanly');
      process.exitCode = 0;
    } catch (error) {
      app.log.error({ err: error }, 'shutdown failed');
      process.exitCode = 1;
    }
  };
  const onTerm = () => void stop('SIGTERM');
  const onInt = () => void stop('SIGINT');
  process.once('SIGTERM', onTerm);
  process.once('SIGINT', onInt);

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    // Nothing may keep running without a port: the process exits, and a supervisor
    // (systemd's Restart=on-failure, an orchestrator) sees the failure.
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    await closeAll();
    // Where the first-start password is (or, on a terminal, the password): this start shows it only once.
    if (firstStart !== undefined) process.stderr.write(`\n${firstStart.message}\n\n`);
    throw listenFailure(error, config);
  }
  // A stop signalled while the port was opening has closed the store already.
  if (stopping) return;
  // The clean-ups start once the server listens: a backlog (a retention shortened, a long stop)
  // takes seconds to delete, and /healthz must not wait for it. Every instance runs them:
  // deleting expired rows in batches is idempotent.
  const { auditRetentionDays } = config;
  const hourly: CleanupStep[] = [
    {
      name: 'the provisioning activity clean-up',
      run: async () => {
        const deleted = await services.activity.purge(config.activityRetentionDays);
        if (deleted > 0) app.log.info({ deleted, retentionDays: config.activityRetentionDays }, 'deleted provisioning activity older than the retention period');
      },
    },
    ...(auditRetentionDays === null
      ? []
      : [{
          name: 'the audit trail clean-up',
          run: async () => {
            const deleted = await services.auditLog.purge(auditRetentionDays, { kind: 'system' });
            if (deleted > 0) app.log.info({ deleted, retentionDays: auditRetentionDays }, 'deleted audit entries older than the retention period');
          },
        }]),
    {
      name: 'the clean-up of SAML sign-in attempts',
      run: async () => {
        const deleted = await services.signIn.purgeAttempts(config.activityRetentionDays);
        if (deleted > 0) app.log.info({ deleted, retentionDays: config.activityRetentionDays }, 'deleted SAML sign-in attempts older than the retention period');
      },
    },
    {
      name: 'the clean-up of ended Roster sessions',
      run: async () => {
        const ended = await services.sessions.purgeEnded();
        if (ended > 0) app.log.info({ deleted: ended }, 'deleted ended Roster sessions (expired or idle)');
      },
    },
    {
      name: 'the clean-up of expired SAML sign-in requests and assertions',
      run: async () => {
        const samlExpired = await services.samlSp.purgeExpired();
        if (samlExpired > 0) app.log.info({ deleted: samlExpired }, 'deleted expired SAML sign-in requests and remembered assertions');
      },
    },
    {
      name: 'the clean-up of browsers known for password sign-in',
      run: async () => {
        const forgotten = await services.passwordSignIn.purgeKnownBrowsers();
        if (forgotten > 0) app.log.info({ deleted: forgotten }, 'forgot browsers that have not signed in with a password for 90 days');
      },
    },
    // Keys whose rate-limit budget is whole again mean the same as no row; so do password
    // back-off keys whose allowance is whole again, and audit budgets of minutes gone by.
    { name: 'the clean-up of rate-limit budgets', run: async () => void (await services.rateLimits.purge()) },
    { name: 'the clean-up of password back-off keys', run: async () => void (await services.passwordSignIn.purgeBackoff()) },
    { name: 'the clean-up of audit budgets', run: async () => void (await services.auditLog.purgeBudgets()) },
    { name: 'the check of the first-start password file', run: discardStaleInitialPassword },
  ];
  cleanups.push(runPeriodically(
    () => runEachStep(hourly, (step, error) => app.log.warn({ err: error }, `${step.name} failed; it runs again within the hour`)),
    RETENTION_INTERVAL_MS,
  ));
  // More often than the rest: anyone can start sign-ins, each a row until it expires (15 minutes).
  cleanups.push(runPeriodically(async () => {
    try {
      const expired = await services.applications.purgeExpired();
      if (expired > 0) app.log.info({ deleted: expired }, 'deleted expired OpenID Connect codes, tokens, sessions and sign-ins');
    } catch (error) {
      app.log.warn({ err: error }, 'the clean-up of expired OpenID Connect codes, tokens and sessions failed; it runs again within 5 minutes');
    }
  }, OIDC_CLEANUP_INTERVAL_MS));
  // Every instance asks; the database lets one of them clean the event feed per interval.
  cleanups.push(runPeriodically(async () => {
    try {
      const deleted = await services.eventFeed.purge();
      if (deleted > 0) app.log.info({ deleted, retentionDays: config.eventRetentionDays }, 'deleted change events older than the retention period');
    } catch (error) {
      app.log.warn({ err: error }, 'event feed clean-up failed; trying again later');
    }
  }, EVENT_CLEANUP_CHECK_MS));

  // A full disk refuses every write: say so while there is still room (store/sqlite-disk.ts).
  if (config.database.kind === 'sqlite' && config.database.path !== ':memory:') {
    const path = config.database.path;
    cleanups.push(runPeriodically(async () => {
      const low = lowDiskWarning(path);
      if (low !== undefined) app.log.warn({ path, freeBytes: low.freeBytes }, low.message);
    }, DISK_CHECK_INTERVAL_MS));
  }

  // Shared times only hold while the instances' clocks agree: the ones Roster writes follow the
  // database's clock (store/clock.ts); say so when this host's is off, as the rest follows it.
  cleanups.push(runPeriodically(async () => {
    try {
      const offsetMs = await services.clock.align();
      const warning = clockOffsetWarning(offsetMs);
      if (warning !== undefined) app.log.warn({ offsetMs: Math.round(offsetMs ?? 0) }, warning);
    } catch (error) {
      app.log.debug({ err: error }, 'the clock check could not reach the database; trying again later');
    }
  }, CLOCK_CHECK_INTERVAL_MS));

  const where = describeLocation(config.database);
  // Where it listens, not the base URL: behind a proxy the two differ (listening.ts).
  const listening = describeListening(config.host, config.port, config.baseUrl);
  const enabled = (await services.provisioning.status()).enabled;
  // For the person who started it, on stderr: stdout carries only the JSON log lines.
  process.stderr.write(
    [
      '',
      `Roster ${ROSTER_VERSION} is running on ${listening.listensOn} (database: ${where})`,
      `Base URL, for browsers and identity providers (ROSTER_BASE_URL): ${config.baseUrl}`,
      `Console: ${consoleUrl}`,
      `SCIM base URL (the IdP's "tenant URL"): ${config.baseUrl}/api/scim/v2`,
      enabled
        ? 'SCIM provisioning is enabled.'
        : 'SCIM provisioning is off. Next: sign in to the console, or configure SAML with `npm run roster -- saml configure …`, then `npm run roster -- scim enable`.',
      'Create a token for your IdP with: npm run roster -- tokens create --name <name>',
      ...(listening.note !== undefined ? [listening.note] : []),
      ...(conflicts.length > 0
        ? [`Warning: ${conflicts.length} name${conflicts.length === 1 ? ' is' : 's are'} shared by several users or groups regardless of case; see \`npm run roster -- db case-conflicts\`.`]
        : []),
      // The password itself only on a terminal (deliverFirstStartPassword), never through the logger.
      ...(firstStart ? ['', firstStart.message] : []),
      '',
    ].join('\n') + '\n',
  );
}

/** Why the port could not be opened, naming the setting to change when it is the address. */
function listenFailure(error: unknown, config: Config): Error {
  const code = typeof error === 'object' && error !== null && 'code' in error ? (error as { code: unknown }).code : undefined;
  // An IPv6 address in brackets, so that its port reads apart (`[::1]:8080`).
  const where = config.host.includes(':') ? `[${config.host}]:${config.port}` : `${config.host}:${config.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new ConfigError('ROSTER_PORT', `roster: cannot listen on ${where}: another process (another Roster?) already listens there. Stop it, or choose another port with ROSTER_PORT.`);
    case 'EACCES':
      return new ConfigError('ROSTER_PORT', `roster: cannot listen on ${where}: not permitted (ports below 1024 need privileges). Choose another port with ROSTER_PORT.`);
    case 'EADDRNOTAVAIL':
      return new ConfigError('ROSTER_HOST', `roster: cannot listen on ${where}: this machine has no such address. Check ROSTER_HOST.`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      // A name that does not resolve, or not an address at all (256.1.1.1 is looked up as a name).
      if (/^\[.*\]$/.test(config.host)) {
        return new ConfigError('ROSTER_HOST', `roster: cannot listen on ${config.host}: ROSTER_HOST takes an IPv6 address without brackets (${config.host.slice(1, -1)}).`);
      }
      return new ConfigError('ROSTER_HOST', `roster: cannot listen on ${where}: no such address or host name. Check ROSTER_HOST (an address of this machine such as 0.0.0.0, 127.0.0.1 or ::, or a name that resolves to one).`);
    case 'EINVAL':
      // A link-local IPv6 address without its interface (fe80::1 rather than fe80::1%eth0), among others.
      return new ConfigError('ROSTER_HOST', `roster: cannot listen on ${where}: the system refuses this address. Check ROSTER_HOST (a link-local IPv6 address needs its interface, e.g. fe80::1%eth0).`);
    default:
      return error instanceof Error ? error : new Error(String(error));
  }
}
