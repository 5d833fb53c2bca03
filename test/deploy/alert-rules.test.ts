/**
 * The alerts docs/deploy.md proposes ("Alerts worth having"), as an operator copies them: every
 * series they name is one Roster exposes, and, run by Prometheus' own rule engine (`promtool
 * test rules`, Debian's prometheus package, which .ci/run installs), those over the gauges of
 * shared state fire and clear when they should, including on series that are absent.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createMetrics } from '../../src/http/metrics.ts';
import type { Store } from '../../src/store/index.ts';
import { ROOT } from '../support/process.ts';

const PROMTOOL = '/usr/bin/promtool';
const skip = existsSync(PROMTOOL) ? false : `${PROMTOOL} is absent: install Debian's prometheus (apt-get install --no-install-recommends prometheus, as .ci/run does) to run the alert rules`;

/** The YAML of the alert rules in docs/deploy.md, as written there. */
function documentedRules(): string {
  const doc = readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8');
  const rules = /Alerts worth having:\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(rules !== undefined && rules.startsWith('groups:'), 'docs/deploy.md has its alert rules in a yaml block after "Alerts worth having:"');
  return rules;
}

/** The names of every metric Roster exposes (on PostgreSQL, with every gauge of shared state). */
async function exposedNames(): Promise<Set<string>> {
  const store = { observeQueries: () => () => {}, poolUse: () => ({ total: 1, idle: 1, waiting: 0, max: 10, longReads: { running: 0, waiting: 0 } }) } as unknown as Store;
  const state = {
    saml: { get: async () => undefined },
    scimState: { read: async () => ({ enabled: true }) },
    activity: { latestAuthenticatedAt: async () => undefined },
    webhooks: { progress: async () => [] },
  } as unknown as Parameters<typeof createMetrics>[3];
  const metrics = createMetrics(store, { measure: async () => 0 }, undefined, state);
  try {
    const text = await metrics.render();
    return new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name!])));
  } finally {
    metrics.close();
  }
}

/** Runs `promtool test rules` on the documented rules with `tests` (promtool's unit test YAML); its output when a test failed. */
function promtool(tests: string): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'roster-alerts-'));
  try {
    writeFileSync(join(dir, 'rules.yml'), documentedRules());
    writeFileSync(join(dir, 'tests.yml'), `rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n${tests}`);
    try {
      return { ok: true, output: execFileSync(PROMTOOL, ['test', 'rules', 'tests.yml'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
    } catch (error) {
      const failed = error as { stdout?: string; stderr?: string };
      return { ok: false, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the alert rules of docs/deploy.md', () => {
  test('name only series Roster exposes', async () => {
    const exposed = await exposedNames();
    const named = new Set([...documentedRules().matchAll(/\b(roster_[a-z_]+)/g)].map(([name]) => name!));
    assert.ok(named.size >= 8, [...named].join(' '));
    for (const name of named) assert.ok(exposed.has(name), `${name} is in an alert rule but not in /metrics`);
  });

  test('parse as Prometheus rules', { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-alerts-'));
    try {
      writeFileSync(join(dir, 'rules.yml'), documentedRules());
      assert.match(execFileSync(PROMTOOL, ['check', 'rules', 'rules.yml'], { cwd: dir, encoding: 'utf8' }), /SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Times in promtool's tests start at 0 (1970-01-01): an expiry 10 days ahead is 864000.
  test('RosterSamlCertificateExpiring: every IdP certificate within 14 days fires; a next one further out clears it', { skip }, () => {
    const result = promtool(`
  - interval: 1m
    input_series:
      - series: 'roster_saml_certificate_expiry_timestamp_seconds{instance="roster-1",role="idp",fingerprint="AA"}'
        values: '864000x30'
      - series: 'roster_saml_certificate_expiry_timestamp_seconds{instance="roster-2",role="idp",fingerprint="AA"}'
        values: '864000x30'
      - series: 'roster_saml_certificate_expiry_timestamp_seconds{instance="roster-1",role="idp",fingerprint="BB"}'
        values: '_x10 34560000x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: RosterSamlCertificateExpiring
        exp_alerts: [{}]
      - eval_time: 15m
        alertname: RosterSamlCertificateExpiring
        exp_alerts: []
      - eval_time: 5m
        alertname: RosterSpCertificateExpiring
        exp_alerts: []
`);
    assert.ok(result.ok, result.output);
  });

  test('RosterSpCertificateExpiring: the current SP certificate within 14 days fires, a next pair added beside it does not clear it, making it current does', { skip }, () => {
    const result = promtool(`
  - interval: 1m
    input_series:
      - series: 'roster_saml_certificate_expiry_timestamp_seconds{instance="roster-1",role="sp",fingerprint="AA"}'
        values: '864000x10 34560000x20'
      - series: 'roster_saml_certificate_expiry_timestamp_seconds{instance="roster-1",role="sp-next",fingerprint="BB"}'
        values: '_x5 34560000x5 _x20'
      - series: 'roster_saml_certificate_expiry_timestamp_seconds{instance="roster-1",role="sp-next",fingerprint="AA"}'
        values: '_x10 864000x20'
    alert_rule_test:
      - eval_time: 3m
        alertname: RosterSpCertificateExpiring
        exp_alerts: [{}]
      - eval_time: 8m
        alertname: RosterSpCertificateExpiring
        exp_alerts: [{}]
      - eval_time: 15m
        alertname: RosterSpCertificateExpiring
        exp_alerts: []
`);
    assert.ok(result.ok, result.output);
  });

  test('RosterIdpSilent: SCIM on and no valid call for 3 hours fires, also when no call is kept at all; a recent call or SCIM off clears it', { skip }, () => {
    const result = promtool(`
  - interval: 5m
    input_series:
      - series: 'roster_scim_provisioning_enabled{instance="roster-1"}'
        values: '1x60'
      - series: 'roster_scim_last_request_timestamp_seconds{instance="roster-1"}'
        values: '600x60'
    alert_rule_test:
      - eval_time: 2h
        alertname: RosterIdpSilent
        exp_alerts: []
      - eval_time: 4h
        alertname: RosterIdpSilent
        exp_alerts: [{}]
  - interval: 5m
    input_series:
      - series: 'roster_scim_provisioning_enabled{instance="roster-1"}'
        values: '1x60'
    alert_rule_test:
      - eval_time: 1h
        alertname: RosterIdpSilent
        exp_alerts: [{}]
  - interval: 5m
    input_series:
      - series: 'roster_scim_provisioning_enabled{instance="roster-1"}'
        values: '0x60'
    alert_rule_test:
      - eval_time: 4h
        alertname: RosterIdpSilent
        exp_alerts: []
`);
    assert.ok(result.ok, result.output);
  });

  test('RosterWebhookDisabled and RosterWebhookBehind: per endpoint, as every instance reports it', { skip }, () => {
    const result = promtool(`
  - interval: 1m
    input_series:
      - series: 'roster_webhook_enabled{instance="roster-1",webhook="w1"}'
        values: '1 1 0x20'
      - series: 'roster_webhook_enabled{instance="roster-2",webhook="w1"}'
        values: '1 1 0x20'
      - series: 'roster_webhook_enabled{instance="roster-1",webhook="w2"}'
        values: '1x22'
      - series: 'roster_webhook_lag_seconds{instance="roster-1",webhook="w1"}'
        values: '0+60x22'
      - series: 'roster_webhook_lag_seconds{instance="roster-2",webhook="w1"}'
        values: '0+60x22'
      - series: 'roster_webhook_lag_seconds{instance="roster-1",webhook="w2"}'
        values: '0x22'
    alert_rule_test:
      - eval_time: 3m
        alertname: RosterWebhookDisabled
        exp_alerts: [{exp_labels: {webhook: w1}}]
      - eval_time: 12m
        alertname: RosterWebhookBehind
        exp_alerts: []
      - eval_time: 17m
        alertname: RosterWebhookBehind
        exp_alerts: [{exp_labels: {webhook: w1}}]
`);
    assert.ok(result.ok, result.output);
  });
});
