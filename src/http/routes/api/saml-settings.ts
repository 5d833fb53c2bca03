/**
 * GET/PUT /api/v2/authentication/saml (administrators): the SAML configuration with
 * SonarQube's field names. The SP private key is write-only: GET says whether one is set, and
 * a PUT that omits it keeps the stored one. What GET returns can be PUT back unchanged: the
 * fields it computes are accepted when they hold what Roster computes, before or after the PUT.
 */
import type { FastifyInstance, FastifySchema } from 'fastify';
import { describeCertificate, splitPemCertificates } from '../../../auth/saml-certificates.ts';
import { spKeyPairsOf, storedCertificates, storedSpPrivateKey, validateSamlConfig, type SamlConfig, type SamlConfigInput } from '../../../auth/saml-config.ts';
import type { Services } from '../../../services.ts';
import { TAGS } from '../../api-docs.ts';
import { errorResponses, NO_BODY, noContent, objectBody, ref, strictObject, type JsonSchema, type NamedSchema } from './common.ts';

const PATH = '/api/v2/authentication/saml';
const DAY_MS = 24 * 60 * 60 * 1000;
const TEXT: JsonSchema = { type: ['string', 'null'] };
const PEM_TEXTS: JsonSchema = { type: ['string', 'array'], items: { type: 'string' } };

/** What Roster computes from a certificate; a PUT ignores it (it changes from day to day). */
const CERTIFICATE_DETAILS: JsonSchema = strictObject(
  {
    subject: { type: 'string' },
    issuer: { type: 'string' },
    validFrom: { type: 'string', format: 'date-time' },
    validTo: { type: 'string', format: 'date-time' },
    fingerprint256: { type: 'string' },
    daysLeft: { type: 'integer' },
    expired: { type: 'boolean' },
    expiresWithin30Days: { type: 'boolean' },
  },
  ['subject', 'issuer', 'validFrom', 'validTo', 'fingerprint256', 'daysLeft', 'expired', 'expiresWithin30Days'],
);

/** Where the IdP sends users back, and who Roster says it is. */
const SERVICE_PROVIDER: JsonSchema = strictObject(
  {
    entityId: { type: 'string', description: 'applicationId, or the metadata URL when it is not set.' },
    acsUrl: { type: 'string' },
    metadataUrl: { type: 'string' },
  },
  ['entityId', 'acsUrl', 'metadataUrl'],
  { description: 'The values to give the identity provider. Read-only: a PUT accepts them when they are those of the settings before or after it.' },
);

const ISSUE: JsonSchema = strictObject({ field: { type: 'string' }, message: { type: 'string' }, index: { type: 'integer' } }, ['field', 'message']);

const SETTINGS_PROPERTIES: Readonly<Record<string, JsonSchema>> = {
  applicationId: { ...TEXT, description: "Roster's SP entity ID (the audience of assertions); null: the metadata URL." },
  providerName: { type: 'string', description: 'Shown on the sign-in button.' },
  providerId: { type: 'string', description: "The IdP's entity ID (the Issuer of its responses)." },
  loginUrl: { type: 'string', description: "The IdP's single sign-on URL (https)." },
  certificates: { type: 'array', items: { type: 'string' }, description: "The IdP's signing certificates, PEM." },
  userLoginAttribute: { ...TEXT, description: 'The attribute holding the login; null: the NameID.' },
  userNameAttribute: TEXT,
  userEmailAttribute: TEXT,
  groupAttribute: { ...TEXT, description: 'The attribute listing group names (just-in-time mode).' },
  signRequests: { type: 'boolean' },
  spCertificate: { ...TEXT, description: "Roster's current SP certificate (PEM): published first in the metadata, and its key signs requests." },
  allowIdpInitiated: { type: 'boolean' },
  spPrivateKeyConfigured: { type: 'boolean', description: 'Whether an SP private key is stored (it is never shown).' },
  spAdditionalKeyPairs: {
    type: 'array',
    items: strictObject({ certificate: { type: 'string' } }, ['certificate']),
    description: 'Further SP key pairs during a rollover (their private keys are never shown): published in the metadata beside spCertificate and tried for decryption, never used to sign requests.',
  },
  serviceProvider: SERVICE_PROVIDER,
  certificateDetails: { type: 'array', items: CERTIFICATE_DETAILS },
  spCertificateDetails: { type: 'array', items: CERTIFICATE_DETAILS, description: 'spCertificate, then each of spAdditionalKeyPairs, described.' },
};

/** The SAML settings as GET shows them. */
export const SAML_SETTINGS: NamedSchema = {
  $id: 'SamlSettings',
  type: 'object',
  additionalProperties: false,
  required: Object.keys(SETTINGS_PROPERTIES),
  properties: SETTINGS_PROPERTIES,
};

/** The answer of a PUT: the settings and what deserves attention (a certificate expiring soon …). */
export const SAML_SETTINGS_SAVED: NamedSchema = {
  $id: 'SamlSettingsSaved',
  type: 'object',
  additionalProperties: false,
  required: [...Object.keys(SETTINGS_PROPERTIES), 'warnings'],
  properties: { ...SETTINGS_PROPERTIES, warnings: { type: 'array', items: ISSUE } },
};

/** A PUT: the settings in full, as GET shows them (or with SonarQube's `certificate`), plus the SP key. */
const PUT_BODY = strictObject(
  {
    ...SETTINGS_PROPERTIES,
    providerName: { ...TEXT, description: 'Shown on the sign-in button; default SAML.' },
    providerId: { ...TEXT, description: "The IdP's entity ID (the Issuer of its responses). Required." },
    loginUrl: { ...TEXT, description: "The IdP's single sign-on URL (https). Required." },
    certificates: { ...PEM_TEXTS, description: "The IdP's signing certificates: a list of PEM texts, or one text holding several." },
    certificate: { ...PEM_TEXTS, description: "SonarQube's name for certificates. Both may be sent only with the same certificates." },
    spPrivateKey: { ...TEXT, writeOnly: true, description: 'The SP private key (PEM, unencrypted). Omitted: the stored key is kept while spCertificate is unchanged; null removes it.' },
    spPrivateKeyConfigured: { type: 'boolean', description: 'Read-only: accepted when it says what is true before or after the PUT.' },
    spAdditionalKeyPairs: {
      type: 'array',
      items: strictObject({ certificate: TEXT, privateKey: { ...TEXT, writeOnly: true } }, []),
      description:
        'Further SP key pairs (a rollover). A pair without privateKey keeps the key stored for its certificate. Omitted: the stored pairs are kept (but the one made spCertificate); [] removes them.',
    },
    certificateDetails: { type: 'array', items: CERTIFICATE_DETAILS, description: 'Ignored: computed from certificates.' },
    spCertificateDetails: { type: 'array', items: CERTIFICATE_DETAILS, description: 'Ignored: computed from spCertificate and spAdditionalKeyPairs.' },
    warnings: { type: 'array', items: ISSUE, description: 'Ignored, so that the answer of a PUT can be sent back.' },
  },
  [],
  { description: 'The whole configuration: fields left out take their defaults, the SP private key aside.' },
);

/** Registers GET, PUT and DELETE /api/v2/authentication/saml. */
export function samlSettingsRoutes(app: FastifyInstance, services: Services): void {
  const tags = [TAGS.saml];
  // Typed as FastifySchema, so that the handlers may answer the error statuses too.
  const getSchema: FastifySchema = {
    operationId: 'getSamlSettings',
    summary: 'Read the SAML configuration',
    tags,
    response: { 200: { ...ref(SAML_SETTINGS), description: 'The configuration.' }, ...errorResponses(404) },
  };
  const putSchema: FastifySchema = {
    operationId: 'putSamlSettings',
    summary: 'Configure SAML',
    tags,
    body: PUT_BODY,
    response: { 200: { ...ref(SAML_SETTINGS_SAVED), description: 'The configuration stored.' } },
  };
  app.get(PATH, { schema: getSchema }, async (_request, reply) => {
    const config = await services.saml.get();
    if (config === undefined) return reply.code(404).send({ message: 'SAML is not configured.' });
    return view(config, services);
  });

  app.put(PATH, { schema: putSchema }, async (request, reply) => {
    const body = objectBody(request.body);
    const current = await services.saml.get();
    const parsed = toInput(body, current);
    if ('error' in parsed) return reply.code(400).send({ message: parsed.error, errors: [{ field: parsed.field, message: parsed.error }] });
    const checked = validateSamlConfig(parsed.input, new Date(), storedCertificates(current));
    if (checked.ok) {
      const problem = readOnlyProblem(body, current === undefined ? undefined : view(current, services), view(checked.config, services));
      if (problem !== undefined) return reply.code(400).send({ message: problem.error, errors: [{ field: problem.field, message: problem.error }] });
    }
    const result = checked.ok ? await services.saml.configure(parsed.input, request.actor, { basedOn: current }) : checked;
    if (!result.ok) {
      const errors = result.errors.map((issue) => ({ field: issue.field, message: issue.message, ...(issue.index === undefined ? {} : { index: issue.index }) }));
      const message = errors.map((error) => `Value for field ${error.field} was rejected: ${error.message}.`).join(' ');
      return reply.code(400).send({ message, errors });
    }
    return { ...view(result.config, services), warnings: result.warnings.map((issue) => ({ field: issue.field, message: issue.message, ...(issue.index === undefined ? {} : { index: issue.index }) })) };
  });

  // The console's Delete: the same domain rule (refused while SCIM is on) and message.
  const deleteSchema: FastifySchema = {
    operationId: 'deleteSamlSettings',
    summary: 'Remove the SAML configuration (refused while SCIM provisioning is on)',
    tags,
    body: NO_BODY,
    response: { 204: noContent('Removed: nobody signs in through SAML until it is configured again.'), ...errorResponses(400, 404) },
  };
  app.delete(PATH, { schema: deleteSchema }, async (request, reply) => {
    if (!(await services.provisioning.removeSaml(request.actor))) return reply.code(404).send({ message: 'SAML is not configured.' });
    return reply.code(204).send();
  });
}

type View = ReturnType<typeof view>;

/** The configuration as administrators see it (admin API and console): no private key, certificate details and the URLs to give the IdP. */
export function view(config: SamlConfig, services: Services) {
  const now = Date.now();
  const { spPrivateKey, spAdditionalKeyPairs, ...visible } = config;
  const describe = (pem: string) => {
    const info = describeCertificate(pem);
    const daysLeft = Math.floor((Date.parse(info.validTo) - now) / DAY_MS);
    return { ...info, daysLeft, expired: daysLeft < 0, expiresWithin30Days: daysLeft < 30 };
  };
  return {
    ...visible,
    spPrivateKeyConfigured: spPrivateKey !== null,
    // The certificates only: the keys are write-only.
    spAdditionalKeyPairs: spAdditionalKeyPairs.map((pair) => ({ certificate: pair.certificate })),
    serviceProvider: {
      entityId: services.samlSp.entityId(config),
      acsUrl: services.samlSp.acsUrl,
      metadataUrl: services.samlSp.acsUrl.replace(/\/acs$/, '/metadata'),
    },
    certificateDetails: config.certificates.map(describe),
    spCertificateDetails: spKeyPairsOf(config).map((pair) => describe(pair.certificate)),
  };
}

type Problem = { error: string; field: string };

/**
 * The first read-only field of `body` that holds neither what GET showed before this PUT nor
 * what it will show after it. certificateDetails and warnings are ignored: they change by
 * themselves (days left) and describe other fields.
 */
function readOnlyProblem(body: Record<string, unknown>, before: View | undefined, after: View): Problem | undefined {
  const sent = body['spPrivateKeyConfigured'];
  if (sent !== undefined && sent !== after.spPrivateKeyConfigured && sent !== before?.spPrivateKeyConfigured) {
    return {
      field: 'spPrivateKeyConfigured',
      error: `Value ${String(sent)} for field spPrivateKeyConfigured was rejected: it is read-only; send spPrivateKey to set the key, or spPrivateKey: null to remove it.`,
    };
  }
  const provider = body['serviceProvider'];
  if (typeof provider === 'object' && provider !== null) {
    const matches = (shown: View['serviceProvider'] | undefined): boolean =>
      shown !== undefined && Object.entries(provider).every(([key, value]) => (shown as Record<string, unknown>)[key] === value);
    if (!matches(before?.serviceProvider) && !matches(after.serviceProvider)) {
      return {
        field: 'serviceProvider',
        error: `Value ${JSON.stringify(provider)} for field serviceProvider was rejected: it is read-only; set applicationId to change the entity ID (the URLs follow the instance's base URL).`,
      };
    }
  }
  return undefined;
}

/** The certificates a `certificate` or `certificates` value holds, or undefined when it is not PEM text or a list of PEM texts. */
function certificateList(raw: unknown): string[] | undefined {
  if (typeof raw === 'string') return splitPemCertificates(raw);
  if (Array.isArray(raw) && raw.every((item): item is string => typeof item === 'string')) return raw;
  return undefined;
}

/** Identifies a certificate by fingerprint (the stored PEM is normalised, a posted one may differ in layout), else by its text. */
function certificateKey(pem: string): string {
  try {
    return describeCertificate(pem).fingerprint256;
  } catch {
    return pem.replace(/\s+/g, '');
  }
}

function sameCertificates(a: readonly string[], b: readonly string[]): boolean {
  const left = new Set(a.map(certificateKey));
  const right = new Set(b.map(certificateKey));
  return left.size === right.size && [...left].every((key) => right.has(key));
}

/** Compares by fingerprint: the stored PEM is normalised, the posted one may differ in layout. */
function sameCertificate(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return false;
  try {
    return describeCertificate(a).fingerprint256 === describeCertificate(b).fingerprint256;
  } catch {
    return false;
  }
}

type Parsed = { input: SamlConfigInput } | Problem;

/**
 * The configuration input a PUT body (or the console's form, turned into the same shape) asks
 * for: checks JSON types and keeps the write-only key; the values are checked by validateSamlConfig.
 */
export function toInput(body: Record<string, unknown>, current: SamlConfig | undefined): Parsed {
  const text = (field: string): string | null | undefined | false => {
    const value = body[field];
    if (value === undefined || value === null) return value;
    return typeof value === 'string' ? value : false;
  };
  const strings = ['applicationId', 'providerName', 'providerId', 'loginUrl', 'userLoginAttribute', 'userNameAttribute', 'userEmailAttribute', 'groupAttribute', 'spCertificate', 'spPrivateKey'] as const;
  const values: Partial<Record<(typeof strings)[number], string | null>> = {};
  for (const field of strings) {
    const value = text(field);
    if (value === false) return { error: `Value for field ${field} was rejected: must be a string.`, field };
    if (value !== undefined) values[field] = value;
  }
  for (const field of ['signRequests', 'allowIdpInitiated'] as const) {
    if (body[field] !== undefined && typeof body[field] !== 'boolean') return { error: `Value for field ${field} was rejected: must be true or false.`, field };
  }
  // SonarQube's field is `certificate` (one PEM text, possibly several certificates); Roster's
  // GET shows `certificates`. A client that edits one and sends both back must not have its
  // edit ignored: two different sets are refused.
  const fromList = body['certificates'] === undefined ? [] : certificateList(body['certificates']);
  const fromText = body['certificate'] === undefined ? [] : certificateList(body['certificate']);
  if (fromList === undefined || fromText === undefined) {
    const field = fromList === undefined ? 'certificates' : 'certificate';
    return { error: `Value for field ${field} was rejected: must be PEM text or a list of PEM texts.`, field };
  }
  if (body['certificates'] !== undefined && body['certificate'] !== undefined && !sameCertificates(fromList, fromText)) {
    return {
      field: 'certificate',
      error:
        'Value for field certificate was rejected: it holds other certificates than the field certificates. ' +
        "Send one of the two (certificate is SonarQube's name, one PEM text; certificates is a list of PEM texts), or the same certificates in both.",
    };
  }
  const certificates = body['certificates'] !== undefined ? fromList : fromText;
  // The key is write-only: omitted means "keep", as long as the certificate it belongs to is kept too.
  const keepKey =
    body['spPrivateKey'] === undefined &&
    current?.spPrivateKey != null &&
    (values.spCertificate === undefined || sameCertificate(values.spCertificate, current.spCertificate));
  // Omitted with another certificate that is a stored pair's: that pair becomes the current one
  // (a rollover's switch), its key the one stored for it.
  const switchedKey = body['spPrivateKey'] === undefined && !keepKey && typeof values.spCertificate === 'string' ? storedSpPrivateKey(current, values.spCertificate) : undefined;
  const additional = additionalKeyPairs(body['spAdditionalKeyPairs'], current, keepKey ? current?.spCertificate : values.spCertificate);
  if ('error' in additional) return additional;
  return {
    input: {
      providerId: values.providerId ?? '',
      loginUrl: values.loginUrl ?? '',
      certificates,
      applicationId: values.applicationId,
      providerName: values.providerName,
      userLoginAttribute: values.userLoginAttribute,
      userNameAttribute: values.userNameAttribute,
      userEmailAttribute: values.userEmailAttribute,
      groupAttribute: values.groupAttribute,
      spCertificate: values.spCertificate === undefined && keepKey ? current?.spCertificate : values.spCertificate,
      spPrivateKey: keepKey ? current?.spPrivateKey : (switchedKey ?? values.spPrivateKey),
      spAdditionalKeyPairs: additional.pairs,
      signRequests: body['signRequests'] === true,
      allowIdpInitiated: body['allowIdpInitiated'] === true,
    },
  };
}

/**
 * The additional SP key pairs a PUT body (or the console's form) asks for. Omitted: the stored
 * ones, but the one that becomes the current pair, and the current pair when another replaces it. A pair sent without its private key keeps the
 * key stored for its certificate (the key is write-only); validateSamlConfig refuses one with none.
 */
function additionalKeyPairs(
  raw: unknown,
  current: SamlConfig | undefined,
  currentCertificate: string | null | undefined,
): { pairs: NonNullable<SamlConfigInput['spAdditionalKeyPairs']> } | Problem {
  if (raw === undefined) {
    const stored = current?.spAdditionalKeyPairs ?? [];
    const kept = stored.filter((pair) => currentCertificate == null || !sameCertificate(pair.certificate, currentCertificate));
    // Another current certificate: the pair it replaces stays beside it, for the assertions the
    // IdP still encrypts to the old certificate until it reads our metadata again. Dropping it
    // at once was a hard cut; whoever wants it gone (a leaked key) sends `[]`.
    const replaced = current?.spCertificate != null && current.spPrivateKey != null && typeof currentCertificate === 'string' && !sameCertificate(current.spCertificate, currentCertificate);
    return { pairs: replaced ? [{ certificate: current.spCertificate, privateKey: current.spPrivateKey }, ...kept] : kept };
  }
  const field = 'spAdditionalKeyPairs';
  const shape = `Value for field ${field} was rejected: must be a list of objects with certificate and privateKey (PEM text).`;
  if (raw === null || !Array.isArray(raw)) return { field, error: shape };
  const pairs: Array<{ certificate: string | null; privateKey: string | null | undefined }> = [];
  for (const item of raw as unknown[]) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return { field, error: shape };
    const { certificate = null, privateKey } = item as Record<string, unknown>;
    if ((certificate !== null && typeof certificate !== 'string') || (privateKey !== undefined && privateKey !== null && typeof privateKey !== 'string')) return { field, error: shape };
    const key = privateKey === undefined && typeof certificate === 'string' ? storedSpPrivateKey(current, certificate) : privateKey;
    pairs.push({ certificate, privateKey: key });
  }
  return { pairs };
}
