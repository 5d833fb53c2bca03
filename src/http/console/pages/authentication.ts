/**
 * Authentication (`/admin/authentication`): the SAML configuration (view, create, edit, delete
 * while SCIM is off), its certificates and the URLs to give the identity provider, and the
 * Provisioning section, SonarQube's switch between just-in-time and SCIM.
 *
 * The rules are the admin API's: the form is turned into the body of `PUT
 * /api/v2/authentication/saml` and read by the same code (saml-settings.ts `toInput`, then
 * services.saml), the switch calls services.provisioning, and refusals are their messages.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseIdpMetadata } from '../../../auth/saml-metadata.ts';
import { SAML_LIMITS, type SamlConfig, type SamlField, type SamlIssue } from '../../../auth/saml-config.ts';
import { DISABLE_CONSEQUENCES } from '../../../directory/provisioning.ts';

/** The console's refusal of a switch to just-in-time posted without its dialog's confirmation. */
const CONSOLE_DISABLE_CONFIRMATION = `${DISABLE_CONSEQUENCES} Use "Switch to just-in-time" on the Authentication page and confirm in its dialog.`;
import { DirectoryError } from '../../../errors.ts';
import { toInput as samlInputFromBody, view as samlSettingsView } from '../../routes/api/saml-settings.ts';
import {
  actionButton,
  badge,
  banner,
  checkboxField,
  confirmDialog,
  copyable,
  dataTable,
  facts,
  editedOnPage,
  formValue,
  noticeBanner,
  labelFor,
  postForm,
  submitButton,
  shownValues,
  textArea,
  textField,
  timeTag,
  type ErrorSummary,
  type FormProblem,
} from '../components.ts';
import type { ConsoleContext } from '../context.ts';
import { html, type SafeHtml } from '../html.ts';
import { sendPage } from '../layout.ts';
import { actorOf, viewerOf } from '../viewer.ts';

/** The page's address. */
export const AUTHENTICATION_PATH = '/admin/authentication';
const EDIT_PATH = `${AUTHENTICATION_PATH}/saml`;
/** The SP key pair rollover: add the next pair (GET shows the form), make one current, remove one. */
const SP_KEYS_PATH = `${EDIT_PATH}/sp-keys`;

const NOTICES = {
  'saml-saved': { tone: 'success', text: 'The SAML configuration is saved.' },
  'sp-key-added': { tone: 'success', text: 'The next SP key pair is added: Roster’s metadata publishes both certificates, and assertions encrypted to either are decrypted. Requests are still signed with the current key. Give the identity provider the new certificate, then make it current.' },
  'sp-key-current': { tone: 'success', text: 'The SP key pair is now the current one: it signs requests. The previous one keeps decrypting until you remove it.' },
  'sp-key-removed': { tone: 'success', text: 'The SP key pair is removed: assertions encrypted to its certificate are refused from now on.' },
  'saml-deleted': { tone: 'success', text: 'The SAML configuration is deleted: nobody can sign in through SAML until it is configured again.' },
  'scim-enabled': { tone: 'success', text: 'SCIM provisioning is on: your identity provider now manages users and groups.' },
  'scim-disabled': { tone: 'success', text: 'SCIM provisioning is off: users appear at their first SAML sign-in (just-in-time), and every user and group is local.' },
} as const;

/** The text fields of the form, in order, with their labels and help. */
const TEXT_FIELDS: ReadonlyArray<{ readonly name: SamlField; readonly label: string; readonly maxLength: number; readonly hint?: string; readonly required?: boolean; readonly type?: 'url' }> = [
  { name: 'providerName', label: 'Provider name', maxLength: SAML_LIMITS.providerName, hint: 'Shown on the sign-in button ("Sign in with …"). Default: SAML.' },
  { name: 'providerId', label: 'Provider ID (IdP entity ID)', maxLength: SAML_LIMITS.providerId, hint: 'The Issuer of the identity provider’s responses.', required: true },
  { name: 'loginUrl', label: 'SAML login URL', maxLength: SAML_LIMITS.loginUrl, hint: 'The identity provider’s single sign-on URL (https).', required: true, type: 'url' },
  { name: 'applicationId', label: 'Application ID (Roster’s entity ID)', maxLength: SAML_LIMITS.providerId, hint: 'Empty: the metadata URL.' },
  { name: 'userLoginAttribute', label: 'User login attribute', maxLength: SAML_LIMITS.providerId, hint: 'Empty: the NameID of the assertion.' },
  { name: 'userNameAttribute', label: 'User name attribute', maxLength: SAML_LIMITS.providerId, hint: 'Empty: the login.' },
  { name: 'userEmailAttribute', label: 'User email attribute', maxLength: SAML_LIMITS.providerId },
  { name: 'groupAttribute', label: 'Group attribute', maxLength: SAML_LIMITS.providerId, hint: 'The attribute listing group names (just-in-time provisioning only).' },
];

/** The posted form as the admin API's PUT body (toInput reads both). */
function bodyOfForm(request: FastifyRequest, read: (name: string) => string | undefined = (name) => formValue(request, name)): Record<string, unknown> {
  const optional = (name: string): string | null => {
    const value = read(name)?.trim() ?? '';
    return value === '' ? null : value;
  };
  const body: Record<string, unknown> = {
    providerId: read('providerId')?.trim() ?? '',
    loginUrl: read('loginUrl')?.trim() ?? '',
    certificates: read('certificates') ?? '',
    signRequests: read('signRequests') === 'true',
    allowIdpInitiated: read('allowIdpInitiated') === 'true',
    spCertificate: optional('spCertificate'),
  };
  for (const name of ['providerName', 'applicationId', 'userLoginAttribute', 'userNameAttribute', 'userEmailAttribute', 'groupAttribute']) body[name] = optional(name);
  // The key is write-only: an empty field keeps the stored one (as a PUT that omits it), the checkbox removes it.
  if (formValue(request, 'removeSpPrivateKey') === 'true') body['spPrivateKey'] = null;
  else if (optional('spPrivateKey') !== null) body['spPrivateKey'] = formValue(request, 'spPrivateKey');
  return body;
}

const CHECKBOXES: ReadonlySet<string> = new Set(['signRequests', 'allowIdpInitiated']);
/** The fields whose shown values the form carries (the write-only key is not shown, so not among them). */
const SHOWN_FIELDS = ['providerName', 'providerId', 'loginUrl', 'certificates', 'applicationId', 'userLoginAttribute', 'userNameAttribute', 'userEmailAttribute', 'groupAttribute', 'spCertificate', 'signRequests', 'allowIdpInitiated'] as const;

/** A form value as a field's text (a checkbox: 'true' or 'false'). */
function asText(value: string | boolean | undefined): string {
  return typeof value === 'boolean' ? String(value) : (value ?? '');
}

/** The stored values the form shows, as text. */
function shownSamlValues(config: SamlConfig | undefined): Record<string, string> {
  const stored = valuesOf(config);
  return Object.fromEntries(SHOWN_FIELDS.map((name) => [name, asText(stored[name])]));
}

/**
 * Reads the posted form as a merge onto `current`: a field left as the page showed it takes the
 * stored value, so that a change another administrator saved meanwhile (a second certificate
 * added for a rollover) is not undone by an edit of another field.
 */
function editsOnto(request: FastifyRequest, current: SamlConfig | undefined): (name: string) => string | undefined {
  const stored = valuesOf(current);
  return (name) => {
    const field = SHOWN_FIELDS.find((candidate) => candidate === name);
    if (current === undefined || field === undefined || editedOnPage(request, field, CHECKBOXES.has(field) ? 'checkbox' : 'text')) return formValue(request, name);
    return asText(stored[field]);
  };
}

/** The form's values: what was posted, else the stored configuration. */
type FormValues = Readonly<Record<string, string | boolean>>;

function valuesOf(config: SamlConfig | undefined): FormValues {
  if (config === undefined) return { signRequests: false, allowIdpInitiated: false };
  return {
    providerName: config.providerName,
    providerId: config.providerId,
    loginUrl: config.loginUrl,
    certificates: config.certificates.join('\n'),
    applicationId: config.applicationId ?? '',
    userLoginAttribute: config.userLoginAttribute ?? '',
    userNameAttribute: config.userNameAttribute ?? '',
    userEmailAttribute: config.userEmailAttribute ?? '',
    groupAttribute: config.groupAttribute ?? '',
    spCertificate: config.spCertificate ?? '',
    signRequests: config.signRequests,
    allowIdpInitiated: config.allowIdpInitiated,
  };
}

/** The labels of the form's fields that are not in TEXT_FIELDS. */
const OTHER_LABELS: Readonly<Record<string, string>> = {
  certificates: 'Identity provider certificates',
  signRequests: 'Sign requests',
  spCertificate: 'SP certificate',
  spPrivateKey: 'SP private key',
};

/**
 * The fields in the order the form shows them, which the error summary follows (the domain
 * checks them in its own order: the provider name, the form's first field, came late).
 */
const FORM_ORDER: readonly string[] = [...TEXT_FIELDS.slice(0, 3).map((field) => field.name), 'certificates', ...TEXT_FIELDS.slice(3).map((field) => field.name), 'signRequests', 'allowIdpInitiated', 'spCertificate', 'spPrivateKey'];

/** Where a field's problem stands in the summary: as on the form, a field the form lacks last. */
function formRank(field: string): number {
  const rank = FORM_ORDER.indexOf(field);
  return rank === -1 ? FORM_ORDER.length : rank;
}

/** A refused field as the error summary shows it: linked to the field by its label (named by the admin API's name otherwise). */
function problemOf(issue: { readonly field: string; readonly message: string }): FormProblem {
  const label = TEXT_FIELDS.find((candidate) => candidate.name === issue.field)?.label ?? OTHER_LABELS[issue.field];
  return label === undefined ? { message: `${issue.field}: ${issue.message}.` } : { field: { id: `field-${issue.field}`, label }, message: `${issue.message}.` };
}

/** The label of the metadata box, which the summary of a refused import links to. */
const METADATA_LABEL = 'SAML metadata (XML)';

/** The refusal of Read metadata with nothing pasted (the parser's own words were about a missing root element). */
const NO_METADATA = 'Paste the identity provider’s metadata XML first.';

/**
 * The form's default button, which Enter in a field presses: the browser takes the form's first
 * submit button, which was Read metadata (the import comes first on the page), so Enter in "User
 * login attribute" ran the import of an empty box instead of saving. A second Save, first in the
 * form and visually hidden; out of the tab order and hidden from screen readers, which have the
 * visible Save.
 */
const DEFAULT_SAVE = html`<button type="submit" class="visually-hidden" tabindex="-1" aria-hidden="true">Save</button>`;

function postedValues(request: FastifyRequest): FormValues {
  const values: Record<string, string | boolean> = {};
  for (const field of TEXT_FIELDS) values[field.name] = formValue(request, field.name) ?? '';
  values['certificates'] = formValue(request, 'certificates') ?? '';
  values['spCertificate'] = formValue(request, 'spCertificate') ?? '';
  values['signRequests'] = formValue(request, 'signRequests') === 'true';
  values['allowIdpInitiated'] = formValue(request, 'allowIdpInitiated') === 'true';
  return values;
}

/**
 * The SAML form; `errors` are the refused fields' messages. The metadata import is part of it
 * (its button posts the whole form to the import), so that what was typed in the other fields
 * is kept when the metadata fills in the identity provider's. Metadata refused stays in its box, to be
 * corrected rather than pasted again.
 */
function samlForm(request: FastifyRequest, options: { config: SamlConfig | undefined; values: FormValues; errors: ReadonlyMap<string, string>; metadataError?: string; keyNotKept?: boolean }): SafeHtml {
  const text = (name: string): string => {
    const value = options.values[name];
    return typeof value === 'string' ? value : '';
  };
  const error = (name: string) => {
    const message = options.errors.get(name);
    return message === undefined ? {} : { error: message };
  };
  const keyStored = options.config?.spPrivateKey != null;
  const keyHint =
    options.keyNotKept === true
      ? 'The key you typed is not sent back to the page: paste it again before you save.'
      : keyStored
        ? 'A key is stored and is never shown. Leave empty to keep it.'
        : 'Unencrypted PEM. Never shown again once saved.';
  return postForm(request, {
    action: EDIT_PATH,
    label: 'SAML configuration',
    className: 'stack',
    body: html`${DEFAULT_SAVE}
<details class="metadata-import"${options.metadataError !== undefined && html` open`}><summary>Fill in from the identity provider’s metadata</summary>
${textArea({ name: 'metadata', label: METADATA_LABEL, rows: 6, hint: 'Paste the federation metadata XML of your identity provider (Entra ID: "Federation Metadata XML"; Okta: "Identity Provider metadata"). Fills in the entity ID, login URL and certificates below; the other fields keep what you typed.', ...(options.metadataError !== undefined ? { error: options.metadataError, value: formValue(request, 'metadata') ?? '' } : {}) })}
<div class="actions">${submitButton('Read metadata', { formAction: `${EDIT_PATH}/metadata` })}</div>
</details>
<fieldset><legend>Identity provider</legend>
${TEXT_FIELDS.slice(0, 3).map((field) => textField({ name: field.name, label: field.label, value: text(field.name), maxLength: field.maxLength, spellcheck: false, ...(field.hint !== undefined ? { hint: field.hint } : {}), ...(field.required === true ? { required: true } : {}), ...(field.type !== undefined ? { type: field.type } : {}), ...error(field.name) }))}
${textArea({ name: 'certificates', label: 'Identity provider certificates (PEM)', value: text('certificates'), rows: 8, required: true, hint: 'One or more certificates that may sign the responses; paste several one after the other while the IdP rotates its key.', ...error('certificates') })}
</fieldset>
<fieldset><legend>Attributes</legend>
${TEXT_FIELDS.slice(3).map((field) => textField({ name: field.name, label: field.label, value: text(field.name), maxLength: field.maxLength, spellcheck: false, ...(field.hint !== undefined ? { hint: field.hint } : {}), ...error(field.name) }))}
</fieldset>
<fieldset><legend>Service provider (Roster)</legend>
${checkboxField({ name: 'signRequests', label: 'Sign requests (needs the SP certificate and key)', checked: options.values['signRequests'] === true, ...error('signRequests') })}
${checkboxField({ name: 'allowIdpInitiated', label: 'Allow IdP-initiated sign-in', checked: options.values['allowIdpInitiated'] === true, hint: 'Accept responses that answer no request of Roster’s. Off unless your identity provider needs it.' })}
${textArea({ name: 'spCertificate', label: 'SP certificate (PEM)', value: text('spCertificate'), rows: 5, hint: keyStored ? 'Published in Roster’s metadata, for signed requests and encrypted assertions. Another one here keeps the pair it replaces under SP key pairs, still decrypting, until you remove it there.' : 'Published in Roster’s metadata, for signed requests and encrypted assertions.', ...error('spCertificate') })}
${textArea({ name: 'spPrivateKey', label: 'SP private key (PEM)', value: '', rows: 5, hint: keyHint, ...error('spPrivateKey') })}
${keyStored && checkboxField({ name: 'removeSpPrivateKey', label: 'Remove the stored SP private key' })}
</fieldset>
${shownValues(request, shownSamlValues(options.config))}
<div class="actions">${submitButton('Save', { tone: 'primary' })} <a class="button default" href="${AUTHENTICATION_PATH}">Cancel</a></div>`,
  });
}

/** The certificates, each with its expiry; within 30 days (or past) they are flagged. */
function certificateTable(details: ReturnType<typeof samlSettingsView>['certificateDetails']): SafeHtml {
  return dataTable({
    caption: 'Identity provider certificates',
    columns: ['Subject', 'Expires', 'Status', 'SHA-256 fingerprint'],
    rows: details.map((certificate) => [
      certificate.subject,
      timeTag(certificate.validTo),
      certificate.expired
        ? badge('Expired', 'danger')
        : certificate.expiresWithin30Days
          ? badge(`Expires in ${certificate.daysLeft} ${certificate.daysLeft === 1 ? 'day' : 'days'}`, 'warning')
          : badge(`Valid, ${certificate.daysLeft} days left`, 'success'),
      html`<code class="fingerprint">${certificate.fingerprint256}</code>`,
    ]),
    empty: 'No certificate.',
  });
}

/** The SP key pairs (the current one first), with the rollover's actions on the others. */
function spKeyTable(request: FastifyRequest, details: ReturnType<typeof samlSettingsView>['spCertificateDetails']): SafeHtml {
  return dataTable({
    caption: 'SP key pairs (Roster’s certificates)',
    columns: ['Subject', 'Role', 'Expires', 'SHA-256 fingerprint', 'Actions'],
    rows: details.map((certificate, index) => {
      // docs/saml.md's openssl commands give every pair the subject CN=roster: the buttons and the
      // confirmation name the pair by its fingerprint's start too, as `saml show` lists them.
      const name = `${certificate.subject} (SHA-256 ${certificate.fingerprint256.slice(0, 11)}…)`;
      return [
        certificate.subject,
        index === 0 ? badge('Current: signs requests, decrypts', 'success') : badge('Decrypts only', 'neutral'),
        timeTag(certificate.validTo),
        html`<code class="fingerprint">${certificate.fingerprint256}</code>`,
        index === 0
          ? html``
          : html`${actionButton(request, { action: `${SP_KEYS_PATH}/use`, label: labelFor('Make current', name), fields: { certificate: certificate.fingerprint256 } })}
${confirmDialog(request, {
  id: `remove-sp-key-${index}`,
  trigger: 'Remove',
  triggerDetail: name,
  title: `Remove the SP key pair ${name}?`,
  message: html`<p>The certificate with the SHA-256 <code class="fingerprint">${certificate.fingerprint256}</code>, expiring ${timeTag(certificate.validTo)}. Assertions encrypted to it will be refused (<code>decryption_failed</code>). Remove it once the identity provider encrypts to the current certificate.</p>`,
  action: `${SP_KEYS_PATH}/remove`,
  fields: { certificate: certificate.fingerprint256 },
  confirmLabel: `Remove ${name}`,
})}`,
      ];
    }),
    empty: 'No SP key pair.',
  });
}

/** The form that adds the next SP key pair; `errors` by part (certificate, privateKey). */
function addSpKeyForm(request: FastifyRequest, options: { certificate: string; errors: ReadonlyMap<string, string>; keyNotKept: boolean }): SafeHtml {
  const error = (name: string) => {
    const message = options.errors.get(name);
    return message === undefined ? {} : { error: message };
  };
  return postForm(request, {
    action: SP_KEYS_PATH,
    label: 'Add the next SP key pair',
    className: 'stack',
    body: html`${textArea({ name: 'nextSpCertificate', label: 'Next SP certificate (PEM)', value: options.certificate, rows: 5, required: true, hint: 'Published in Roster’s metadata beside the current one, for encrypted assertions (and signed requests, once it is current).', ...error('nextSpCertificate') })}
${textArea({ name: 'nextSpPrivateKey', label: 'Next SP private key (PEM)', value: '', rows: 5, required: true, hint: options.keyNotKept ? 'The key you typed is not sent back to the page: paste it again before you add.' : 'Unencrypted PEM. Never shown again once saved.', ...error('nextSpPrivateKey') })}
<div class="actions">${submitButton('Add the next SP key pair', { tone: 'primary' })} <a class="button default" href="${AUTHENTICATION_PATH}">Cancel</a></div>`,
  });
}

function expiryBanner(details: ReturnType<typeof samlSettingsView>['certificateDetails']): SafeHtml {
  const expired = details.filter((certificate) => certificate.expired).length;
  const soon = details.filter((certificate) => !certificate.expired && certificate.expiresWithin30Days).length;
  if (expired === 0 && soon === 0) return html``;
  const usable = details.length - expired;
  return banner({
    tone: usable === 0 ? 'error' : 'warning',
    title: expired > 0 ? 'An identity provider certificate has expired' : 'An identity provider certificate expires within 30 days',
    body: html`<p>${usable === 0 ? 'No certificate is valid: nobody can sign in through SAML.' : 'Add the identity provider’s new certificate (Edit) before the old one expires, so that sign-in keeps working.'}</p>`,
  });
}

/** Registers the Authentication page and its forms. */
export function authenticationPages(app: FastifyInstance, context: ConsoleContext): void {
  const { services } = context;

  app.get(AUTHENTICATION_PATH, async (request, reply) => {
    const [config, scim] = await Promise.all([services.saml.get(), services.provisioning.isScimEnabled()]);
    const view = config === undefined ? undefined : samlSettingsView(config, services);
    const saml =
      view === undefined
        ? html`<p>SAML is not configured: only local accounts (such as <code>admin</code>) can sign in, and SCIM provisioning cannot be turned on.</p>
<p><a class="button primary" href="${EDIT_PATH}">Configure SAML</a></p>`
        : html`${expiryBanner(view.certificateDetails)}
${facts([
  ['Provider name', view.providerName],
  ['Provider ID', html`<code>${view.providerId}</code>`],
  ['SAML login URL', html`<code>${view.loginUrl}</code>`],
  ['User login attribute', view.userLoginAttribute ?? html`<span class="empty">NameID</span>`],
  ['User name attribute', view.userNameAttribute ?? html`<span class="empty">the login</span>`],
  ['User email attribute', view.userEmailAttribute ?? html`<span class="empty">not set</span>`],
  ['Group attribute', view.groupAttribute ?? html`<span class="empty">not set</span>`],
  ['Sign requests', view.signRequests ? 'Yes' : 'No'],
  ['IdP-initiated sign-in', view.allowIdpInitiated ? 'Allowed' : 'Refused'],
  ['SP private key', view.spPrivateKeyConfigured ? 'Stored (never shown)' : 'None'],
])}
${certificateTable(view.certificateDetails)}
${view.spCertificateDetails.length > 0 && html`${spKeyTable(request, view.spCertificateDetails)}
<p><a class="button default" href="${SP_KEYS_PATH}">Add the next SP key pair</a></p>
<p class="hint">To replace Roster’s key pair without failed sign-ins: add the next one, give the identity provider its certificate, make it current, then remove the old one (“SP key pair rollover, step by step” in <a href="/docs/saml.md">saml.md</a>).</p>`}
<h3>For your identity provider</h3>
${facts([
  ['Entity ID (audience)', copyable({ id: 'sp-entity-id', label: 'the entity ID', value: view.serviceProvider.entityId })],
  ['ACS URL (reply URL)', copyable({ id: 'sp-acs-url', label: 'the ACS URL', value: view.serviceProvider.acsUrl })],
  ['Metadata URL', copyable({ id: 'sp-metadata-url', label: 'the metadata URL', value: view.serviceProvider.metadataUrl })],
])}
<div class="actions">
<a class="button primary" href="${EDIT_PATH}">Edit</a>
<a class="button default" href="/saml/validation" target="_blank" rel="noopener">Test configuration<span class="visually-hidden"> (opens in a new tab)</span></a>
${confirmDialog(request, {
  id: 'delete-saml',
  trigger: 'Delete',
  title: 'Delete the SAML configuration?',
  message: html`<p>Nobody will be able to sign in through <strong>${view.providerName}</strong> until SAML is configured again; their sessions stay open until they end. Local accounts keep signing in with their password.</p>`,
  action: `${EDIT_PATH}/delete`,
  confirmLabel: 'Delete the SAML configuration',
  disabled: scim,
  ...(scim ? { describedBy: 'delete-saml-why' } : {}),
})}
</div>
${scim && html`<p class="hint" id="delete-saml-why">SAML cannot be deleted while SCIM provisioning is on: provisioned users sign in through SAML. Switch to just-in-time first.</p>`}`;

    const scimWhy = view === undefined ? html`<p class="hint" id="scim-choice-why">Configure SAML first: users provisioned by SCIM sign in through SAML.</p>` : html``;
    const provisioning = html`<section aria-labelledby="provisioning-title">
<h2 id="provisioning-title">Provisioning</h2>
<ul class="choices">
<li class="choice${!scim && ' current'}">
<h3>Just-in-time</h3>
<p>Users appear at their first SAML sign-in, with the groups of the assertion (group attribute). Users and groups are managed here.</p>
${!scim
  ? badge('Current', 'success')
  : confirmDialog(request, {
      id: 'switch-to-jit',
      trigger: 'Switch to just-in-time',
      title: 'Switch to just-in-time provisioning?',
      message: html`<p><strong>Every SCIM link is removed, and that cannot be undone.</strong> All users and groups become local: your identity provider can no longer update or deactivate them, and they can be changed here again.</p>`,
      action: `${AUTHENTICATION_PATH}/provisioning`,
      fields: { mode: 'jit', confirm: 'true' },
      confirmLabel: 'Remove every SCIM link and switch',
    })}
</li>
<li class="choice${scim && ' current'}">
<h3>SCIM</h3>
<p>Your identity provider creates, updates and deactivates users and groups through the SCIM API (see <a href="/admin/scim">SCIM</a> for its URL and tokens).</p>
${scim
  ? badge('Current', 'success')
  : confirmDialog(request, {
      id: 'switch-to-scim',
      trigger: 'Switch to SCIM',
      title: 'Switch to SCIM provisioning?',
      message: html`<p>Users and groups from your identity provider become <strong>read-only here</strong>: only the identity provider changes them. Local accounts, such as <code>admin</code>, stay as they are.</p>`,
      action: `${AUTHENTICATION_PATH}/provisioning`,
      fields: { mode: 'scim' },
      confirmLabel: 'Switch to SCIM',
      tone: 'primary',
      disabled: view === undefined,
      ...(view === undefined ? { describedBy: 'scim-choice-why' } : {}),
    })}
${scimWhy}
</li>
</ul>
</section>`;

    return sendPage(request, reply, {
      title: 'Authentication',
      body: html`${noticeBanner(request, NOTICES)}
<section aria-labelledby="saml-title">
<h2 id="saml-title">SAML</h2>
${saml}
</section>
${provisioning}`,
    });
  });

  const editPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    options: { config: SamlConfig | undefined; values: FormValues; errors: readonly SamlIssue[] | ReadonlyArray<{ field: string; message: string }>; status?: number; metadataError?: string; fromMetadata?: { readonly leftOut: readonly string[] } },
  ) => {
    const errors = new Map<string, string>();
    for (const issue of options.errors) if (!errors.has(issue.field)) errors.set(issue.field, issue.message);
    // The write-only key is never written into a page: one typed in a form that comes back (an
    // import, a refused save) is gone from it, which the page says rather than save without it.
    const keyNotKept = request.method === 'POST' && (formValue(request, 'spPrivateKey') ?? '').trim() !== '';
    const summary: ErrorSummary | undefined =
      options.errors.length > 0
        ? { title: 'The configuration was not saved', problems: [...options.errors].sort((a, b) => formRank(a.field) - formRank(b.field)).map(problemOf) }
        : options.metadataError !== undefined
          ? { title: 'The form was not filled in', problems: [{ field: { id: 'field-metadata', label: METADATA_LABEL }, message: options.metadataError }] }
          : undefined;
    return sendPage(request, reply, {
      status: options.status ?? 200,
      title: options.config === undefined ? 'Configure SAML' : 'Edit the SAML configuration',
      ...(summary !== undefined ? { errors: summary } : {}),
      body: html`${options.fromMetadata !== undefined && banner({ tone: 'info', body: html`<p>The identity provider’s entity ID, login URL and certificates were read from the metadata. Nothing is saved yet: check the form and Save.</p>${keyNotKept && html`<p>The SP private key you typed is not shown again: paste it again before you save.</p>`}${options.fromMetadata.leftOut.map((note) => html`<p>The metadata ${note.replace(/^left out/, 'lists')}: it was left out.</p>`)}` })}
<p><a href="${AUTHENTICATION_PATH}">Back to Authentication</a></p>
${samlForm(request, { config: options.config, values: options.values, errors, keyNotKept, ...(options.metadataError !== undefined ? { metadataError: options.metadataError } : {}) })}`,
    });
  };

  app.get(EDIT_PATH, async (request, reply) => {
    const config = await services.saml.get();
    return editPage(request, reply, { config, values: valuesOf(config), errors: [] });
  });

  app.post(EDIT_PATH, async (request, reply) => {
    const current = await services.saml.get();
    const parsed = samlInputFromBody(bodyOfForm(request, editsOnto(request, current)), current);
    if ('error' in parsed) return editPage(request, reply, { config: current, values: postedValues(request), errors: [{ field: parsed.field, message: parsed.error }], status: 400 });
    const result = await services.saml.configure(parsed.input, actorOf(request), { basedOn: current });
    if (!result.ok) return editPage(request, reply, { config: current, values: postedValues(request), errors: result.errors, status: 400 });
    return reply.redirect(`${AUTHENTICATION_PATH}?notice=saml-saved`, 303);
  });

  app.post(`${EDIT_PATH}/metadata`, async (request, reply) => {
    const current = await services.saml.get();
    const metadata = formValue(request, 'metadata') ?? '';
    // The form's other fields, as typed (the import posts the whole form); a post of the
    // metadata alone (an older page, a script) starts from the stored configuration.
    const typed = formValue(request, 'providerId') !== undefined ? postedValues(request) : valuesOf(current);
    if (metadata.trim() === '') return editPage(request, reply, { config: current, values: typed, errors: [], metadataError: NO_METADATA, status: 400 });
    const parsed = parseIdpMetadata(metadata);
    if (!parsed.ok) return editPage(request, reply, { config: current, values: typed, errors: [], metadataError: `The metadata cannot be used: ${parsed.message}.`, status: 400 });
    // Only fills the form: the administrator checks it and saves, as with any edit.
    const values = { ...typed, providerId: parsed.input.providerId, loginUrl: parsed.input.loginUrl, certificates: parsed.input.certificates.join('\n') };
    return editPage(request, reply, { config: current, values, errors: [], fromMetadata: { leftOut: parsed.leftOut } });
  });

  const addSpKeyPage = (request: FastifyRequest, reply: FastifyReply, options: { certificate: string; errors: ReadonlyArray<{ readonly field: string; readonly message: string }>; status?: number }) => {
    const errors = new Map<string, string>();
    for (const issue of options.errors) if (!errors.has(issue.field)) errors.set(issue.field, issue.message);
    const labels: Readonly<Record<string, string>> = { nextSpCertificate: 'Next SP certificate (PEM)', nextSpPrivateKey: 'Next SP private key (PEM)' };
    const summary: ErrorSummary | undefined =
      options.errors.length > 0
        ? { title: 'The SP key pair was not added', problems: options.errors.map((issue) => ({ field: { id: `field-${issue.field}`, label: labels[issue.field] ?? issue.field }, message: `${issue.message}.` })) }
        : undefined;
    const keyNotKept = request.method === 'POST' && (formValue(request, 'nextSpPrivateKey') ?? '').trim() !== '';
    return sendPage(request, reply, {
      status: options.status ?? 200,
      title: 'Add the next SP key pair',
      ...(summary !== undefined ? { errors: summary } : {}),
      body: html`<p><a href="${AUTHENTICATION_PATH}">Back to Authentication</a></p>
<p>The current SP key pair keeps signing requests; both decrypt assertions until you remove the old one.</p>
${addSpKeyForm(request, { certificate: options.certificate, errors, keyNotKept })}`,
    });
  };

  app.get(SP_KEYS_PATH, async (request, reply) => addSpKeyPage(request, reply, { certificate: '', errors: [] }));

  app.post(SP_KEYS_PATH, async (request, reply) => {
    const certificate = formValue(request, 'nextSpCertificate') ?? '';
    const result = await services.saml.rollSpKeys({ add: { certificate, privateKey: formValue(request, 'nextSpPrivateKey') ?? '' } }, actorOf(request));
    if (result.ok) return reply.redirect(`${AUTHENTICATION_PATH}?notice=sp-key-added`, 303);
    // The domain's words; a problem of the added pair is put on the half it is about.
    const errors =
      'refused' in result
        ? [{ field: 'nextSpCertificate', message: result.refused.message }]
        : result.errors.map((issue) => ({ field: issue.part === 'privateKey' ? 'nextSpPrivateKey' : 'nextSpCertificate', message: issue.message }));
    return addSpKeyPage(request, reply, { certificate, errors, status: 400 });
  });

  for (const step of ['use', 'remove'] as const) {
    app.post(`${SP_KEYS_PATH}/${step}`, async (request, reply) => {
      const certificate = formValue(request, 'certificate') ?? '';
      const result = await services.saml.rollSpKeys(step === 'use' ? { use: certificate } : { remove: [certificate] }, actorOf(request));
      if (!result.ok) throw new DirectoryError('invalid', `${capitalised('refused' in result ? result.refused.message : result.errors.map((issue) => issue.message).join('; '))}.`, 'certificate');
      return reply.redirect(`${AUTHENTICATION_PATH}?notice=${step === 'use' ? 'sp-key-current' : 'sp-key-removed'}`, 303);
    });
  }

  app.post(`${EDIT_PATH}/delete`, async (request, reply) => {
    await services.provisioning.removeSaml(actorOf(request));
    return reply.redirect(`${AUTHENTICATION_PATH}?notice=saml-deleted`, 303);
  });

  app.post(`${AUTHENTICATION_PATH}/provisioning`, async (request, reply) => {
    const mode = formValue(request, 'mode');
    if (mode === 'scim') {
      await services.provisioning.enable(actorOf(request));
      return reply.redirect(`${AUTHENTICATION_PATH}?notice=scim-enabled`, 303);
    }
    if (mode === 'jit') {
      // The dialog is the confirmation; a form posted without it is refused as the API refuses.
      if (formValue(request, 'confirm') !== 'true') throw new DirectoryError('invalid', CONSOLE_DISABLE_CONFIRMATION, 'confirm');
      await services.provisioning.disable(actorOf(request));
      return reply.redirect(`${AUTHENTICATION_PATH}?notice=scim-disabled`, 303);
    }
    throw new DirectoryError('invalid', 'The provisioning mode must be jit (just-in-time) or scim.', 'mode');
  });
}


function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
