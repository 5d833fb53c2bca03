/**
 * "Webhooks" (`/admin/webhooks`): the endpoints that receive every change as a signed POST
 * (docs/events.md). List and create (the signing secret is shown once, on the page that
 * answers the creation), and per endpoint: its state, enable, disable, rotate the secret,
 * delete (each behind a confirmation), replay from an event, and the log of deliveries.
 * The same domain code and messages as the admin API and the CLI (directory/webhooks.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DirectoryError } from '../../../errors.ts';
import { MAX_URL_LENGTH, type WebhookInfo } from '../../../directory/webhooks.ts';
import { EVENT_TYPES } from '../../../journal/journal.ts';
import {
  actionButton, badge, banner, checkboxField, confirmDialog, copyable, dataTable, facts, formValue, formValues, hrefWith, noticeBanner,
  pagerNav, postForm, queryValue, submitButton, textField, timeTag, type ErrorSummary, type Query,
} from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { viewerOf } from '../viewer.ts';
import { besideField, refusalOf, refusalSummary, type FormFields } from './directory.ts';
import { claimForm, onceField, onceFields, refusedBanner, statusOfRefused } from '../once.ts';

const PATH = '/admin/webhooks';
const DELIVERIES_PER_PAGE = 50;

/** Banners after a redirect, by code: nothing the URL says is shown as text. */
const NOTICES = {
  enabled: { tone: 'success', text: 'The webhook is enabled: deliveries resume at the event it stopped at.' },
  disabled: { tone: 'success', text: 'The webhook is disabled: nothing is sent until it is enabled again.' },
  deleted: { tone: 'success', text: 'The webhook and its log of deliveries were deleted.' },
  replayed: { tone: 'success', text: 'The webhook is enabled and delivers again from the event you chose, in order.' },
} as const;

function stateBadge(webhook: WebhookInfo): SafeHtml {
  if (!webhook.enabled) return badge('Disabled', 'danger');
  return webhook.failedAttempts > 0 ? badge('Failing', 'warning') : badge('Enabled', 'success');
}

/** The webhook forms' fields a refusal may name: the summary links to the field (the first event type's box for the types). */
const CREATE_FIELDS = { url: { id: 'field-url', label: 'URL' }, types: { id: `type-${(EVENT_TYPES[0] ?? '').replace('.', '-')}`, label: 'Event types' } } as const satisfies FormFields;
const REPLAY_FIELDS = { from: { id: 'field-from', label: 'From event id' } } as const satisfies FormFields;

function typesText(webhook: WebhookInfo): string {
  return webhook.types === null ? 'All events' : webhook.types.join(', ');
}

/** Registers the Webhooks pages. */
export function webhookPages(app: FastifyInstance, context: ConsoleContext): void {
  const { webhooks, formSubmissions } = context.services;
  const actorOf = (request: FastifyRequest) => {
    const { user } = viewerOf(request);
    return { kind: 'session', userId: user.id, login: user.login } as const;
  };

  function createForm(request: FastifyRequest, values: { url?: string; types?: readonly string[] } = {}, error?: DirectoryError): SafeHtml {
    const urlError = error !== undefined && error.field !== 'types' ? besideField(error) : undefined;
    const typesError = error !== undefined && error.field === 'types' ? besideField(error) : undefined;
    return postForm(request, {
      action: PATH,
      label: 'Add a webhook',
      body: html`${onceField(formSubmissions)}${textField({ name: 'url', label: CREATE_FIELDS.url.label, type: 'url', value: values.url ?? '', required: true, maxLength: MAX_URL_LENGTH, spellcheck: false, hint: 'Where Roster POSTs each event. http or https; redirects are not followed.', ...(urlError !== undefined ? { error: urlError } : {}) })}
<fieldset class="field"${typesError !== undefined && html` aria-describedby="types-error"`}><legend>${CREATE_FIELDS.types.label}</legend><p class="hint">Leave all unchecked to receive every type.</p>
${EVENT_TYPES.map((type) => checkboxField({ name: 'types', id: `type-${type.replace('.', '-')}`, label: type, value: type, checked: values.types?.includes(type) ?? false }))}
${typesError !== undefined && html`<p class="field-error" id="types-error">${typesError}</p>`}</fieldset>
${submitButton('Add webhook', { tone: 'primary' })}`,
    });
  }

  async function listPage(request: FastifyRequest, reply: FastifyReply, form: SafeHtml, status = 200, top: SafeHtml = html``, errors?: ErrorSummary): Promise<FastifyReply> {
    const list = await webhooks.list();
    const body = html`${noticeBanner(request, NOTICES)}${top}
<p>Roster POSTs every change to users, groups and memberships to each enabled webhook, one event at a time and in order, signed as <a href="https://www.standardwebhooks.com/">Standard Webhooks</a> specifies. A failing receiver is retried for about three days.</p>
<section aria-labelledby="list-title">
<h2 id="list-title">Webhooks</h2>
${dataTable({
  caption: 'Webhooks',
  captionHidden: true,
  columns: ['URL', 'Events', 'State', 'Failed attempts', 'Created'],
  rows: list.map((webhook) => [html`<a href="${PATH}/${webhook.id}">${webhook.url}</a>`, typesText(webhook), stateBadge(webhook), String(webhook.failedAttempts), timeTag(webhook.createdAt)]),
  empty: 'No webhooks yet.',
})}
</section>
<section aria-labelledby="create-title">
<h2 id="create-title">Add a webhook</h2>
${form}
</section>`;
    return sendPage(request, reply, { status, title: 'Webhooks', body, ...(errors !== undefined ? { errors } : {}) });
  }

  app.get(PATH, async (request, reply) => listPage(request, reply, createForm(request)));

  app.post(PATH, async (request, reply) => {
    const url = formValue(request, 'url') ?? '';
    const types = formValues(request, 'types');
    const once = await claimForm(request, formSubmissions, { repeatOnSameValues: true });
    if (once.claim !== 'act') {
      return listPage(request, reply, createForm(request), statusOfRefused(once.claim), refusedBanner(once.claim, 'The webhook was added: it is in the list below.'));
    }
    try {
      const { webhook, secret } = await webhooks.create({ url, ...(types.length > 0 ? { types } : {}) }, actorOf(request));
      // Answered here rather than redirected: the secret must never travel in a URL; the form's
      // one-time token keeps a reload of this answer from adding a second webhook.
      return sendPage(request, reply, {
        title: 'Webhook added',
        body: html`${banner({ tone: 'success', takesFocus: true, title: 'Webhook added', body: html`Roster now sends ${typesText(webhook).toLowerCase() === 'all events' ? 'every change' : typesText(webhook)} to <code>${webhook.url}</code>.` })}
<h2>Signing secret</h2>
<p>Give this secret to the receiver: it verifies each request's <code>webhook-signature</code> with it. <strong>It is shown only now.</strong> If it is lost, rotate the secret.</p>
${copyable({ id: 'webhook-secret', label: 'signing secret', value: secret })}
<p><a href="${PATH}/${webhook.id}">Go to the webhook</a> · <a href="${PATH}">All webhooks</a></p>`,
      });
    } catch (error) {
      await once.release();
      if (!(error instanceof DirectoryError)) throw error;
      return listPage(request, reply, createForm(request, { url, types }, error), 400, html``, refusalSummary(refusalOf(error), CREATE_FIELDS, 'The webhook was not added'));
    }
  });

  async function detailPage(request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply, extra: { secret?: string; replayError?: DirectoryError; replayValue?: string; top?: SafeHtml; errors?: ErrorSummary } = {}, status = 200): Promise<FastifyReply> {
    const webhook = await webhooks.get(request.params.id);
    const query = request.query as Query;
    const before = queryValue(query, 'before');
    const page = await webhooks.deliveries(webhook.id, { limit: DELIVERIES_PER_PAGE, ...(before !== undefined && /^\d{1,15}$/.test(before) ? { before } : {}) });
    const here = `${PATH}/${webhook.id}`;
    const body = html`${noticeBanner(request, NOTICES)}${extra.top}
${extra.secret !== undefined && html`${banner({ tone: 'success', title: 'New signing secret', body: html`<p>Give it to the receiver. It is shown only now. The previous secret also signs until ${timeTag(webhook.previousSecretExpiresAt)}, so nothing fails while you switch.</p>` })}
${copyable({ id: 'webhook-secret', label: 'signing secret', value: extra.secret })}`}
${!webhook.enabled && banner({ tone: 'warning', title: 'Disabled', body: html`${webhook.disabledReason ?? ''} (${timeTag(webhook.disabledAt)}). Nothing is sent until it is enabled or replayed.` })}
${facts([
  ['URL', html`<code>${webhook.url}</code>`],
  ['Events', typesText(webhook)],
  ['State', stateBadge(webhook)],
  ['Failed attempts at the current event', html`${String(webhook.failedAttempts)}${webhook.failingSince !== null && html` since ${timeTag(webhook.failingSince)}`}`],
  ['Next attempt', webhook.enabled ? timeTag(webhook.nextAttemptAt) : '—'],
  ['Previous secret signs until', timeTag(webhook.previousSecretExpiresAt, 'no previous secret')],
  ['Created', timeTag(webhook.createdAt)],
])}
<div class="actions">
${webhook.enabled
  ? confirmDialog(request, {
      id: 'disable',
      trigger: 'Disable',
      title: 'Disable this webhook?',
      message: html`<p>Nothing is sent to <code>${webhook.url}</code> until it is enabled again; then deliveries resume where they stopped.</p>`,
      action: `${here}/disable`,
      confirmLabel: 'Disable webhook',
    })
  : actionButton(request, { action: `${here}/enable`, label: 'Enable', tone: 'primary' })}
${confirmDialog(request, {
  id: 'rotate-secret',
  trigger: 'Rotate secret',
  title: 'Issue a new signing secret?',
  message: html`<p>Requests are signed with the new secret and, for 24 hours, with the current one too: update the receiver within that time.</p>`,
  action: `${here}/rotate-secret`,
  // The overlap this page shows: a rotation made since (another tab, another administrator) is
  // not repeated by this one, which would stop at once the secret that rotation kept signing.
  fields: { ...onceFields(formSubmissions), 'shown.overlapUntil': webhook.previousSecretExpiresAt ?? '' },
  confirmLabel: 'Rotate secret',
  tone: 'default',
})}
${confirmDialog(request, {
  id: 'delete',
  trigger: 'Delete',
  title: 'Delete this webhook?',
  message: html`<p>Nothing more is sent to <code>${webhook.url}</code>, and its log of deliveries is deleted. This cannot be undone.</p>`,
  action: `${here}/delete`,
  confirmLabel: 'Delete webhook',
})}
</div>
<section aria-labelledby="replay-title">
<h2 id="replay-title">Replay</h2>
${postForm(request, {
  action: `${here}/replay`,
  label: 'Replay from an event',
  body: html`${textField({ name: 'from', label: REPLAY_FIELDS.from.label, value: extra.replayValue ?? '', required: true, maxLength: 15, spellcheck: false, hint: 'Delivers again, in order, every event from this one on (events are kept ROSTER_EVENT_RETENTION_DAYS), and enables the webhook.', ...(extra.replayError !== undefined ? { error: besideField(extra.replayError) } : {}) })}
${submitButton('Replay')}`,
})}
</section>
<section aria-labelledby="deliveries-title">
<h2 id="deliveries-title">Deliveries</h2>
${dataTable({
  caption: 'Delivery attempts, newest first',
  captionHidden: true,
  columns: ['Time', 'Event', 'Attempt', 'Status', 'Latency', 'Outcome', 'Error or answer'],
  rows: page.deliveries.map((delivery) => [
    timeTag(delivery.at),
    html`${delivery.eventId} <span class="hint">${delivery.eventType}</span>`,
    String(delivery.attempt),
    delivery.status === null ? '—' : String(delivery.status),
    `${delivery.latencyMs} ms`,
    badge(delivery.outcome.replace('_', ' '), delivery.outcome === 'delivered' ? 'success' : delivery.outcome === 'retrying' ? 'warning' : 'danger'),
    html`${delivery.error ?? ''}${delivery.response !== null && html` <code>${delivery.response.slice(0, 200)}</code>`}`,
  ]),
  empty: 'No deliveries yet.',
})}
${(before !== undefined || page.next !== null) && pagerNav({
  ...(before !== undefined ? { previous: here } : {}),
  ...(page.next !== null ? { next: hrefWith(here, query, { before: page.next, confirm: undefined, notice: undefined }) } : {}),
  summary: before === undefined ? 'Newest attempts' : 'Older attempts',
  label: 'Delivery pages',
})}
</section>
<p><a href="${PATH}">All webhooks</a></p>`;
    const errors = extra.errors ?? (extra.replayError !== undefined ? refusalSummary(refusalOf(extra.replayError), REPLAY_FIELDS, 'Nothing was replayed') : undefined);
    return sendPage(request, reply, { status, title: `Webhook ${webhook.url}`, body, ...(errors !== undefined ? { errors } : {}) });
  }

  app.get<{ Params: { id: string } }>(`${PATH}/:id`, async (request, reply) => detailPage(request, reply));

  const back = (id: string, notice: keyof typeof NOTICES) => `${PATH}/${encodeURIComponent(id)}?notice=${notice}`;

  app.post<{ Params: { id: string } }>(`${PATH}/:id/enable`, async (request, reply) => {
    await webhooks.enable(request.params.id, actorOf(request));
    return reply.redirect(back(request.params.id, 'enabled'), 303);
  });

  app.post<{ Params: { id: string } }>(`${PATH}/:id/disable`, async (request, reply) => {
    await webhooks.disable(request.params.id, actorOf(request));
    return reply.redirect(back(request.params.id, 'disabled'), 303);
  });

  app.post<{ Params: { id: string } }>(`${PATH}/:id/delete`, async (request, reply) => {
    await webhooks.remove(request.params.id, actorOf(request));
    return reply.redirect(`${PATH}?notice=deleted`, 303);
  });

  app.post<{ Params: { id: string } }>(`${PATH}/:id/rotate-secret`, async (request, reply) => {
    const once = await claimForm(request, formSubmissions);
    if (once.claim !== 'act') {
      const done = html`The secret was rotated then; the previous one still signs until the time shown below.`;
      return detailPage(request, reply, { top: refusedBanner(once.claim, done) }, statusOfRefused(once.claim));
    }
    // Absent from a page of an older version: rotated as asked.
    const seen = formValue(request, 'shown.overlapUntil');
    let secret: string;
    try {
      ({ secret } = await webhooks.rotateSecret(request.params.id, actorOf(request), seen !== undefined ? { seenOverlapUntil: seen === '' ? null : seen } : {}));
    } catch (error) {
      await once.release();
      if (!(error instanceof DirectoryError && error.code === 'conflict')) throw error;
      return detailPage(request, reply, { errors: { title: 'Nothing was done', problems: [{ message: error.message }] } }, 409);
    }
    return detailPage(request, reply, { secret });
  });

  app.post<{ Params: { id: string } }>(`${PATH}/:id/replay`, async (request, reply) => {
    const from = (formValue(request, 'from') ?? '').trim();
    try {
      await webhooks.replay(request.params.id, from, actorOf(request));
    } catch (error) {
      if (!(error instanceof DirectoryError) || error.code === 'not_found') throw error;
      return detailPage(request, reply, { replayError: error, replayValue: from }, 400);
    }
    return reply.redirect(back(request.params.id, 'replayed'), 303);
  });
}
