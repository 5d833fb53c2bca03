/**
 * GET/PUT /api/v2/authentication/saml (administrators): the SAML configuration with
 * SonarQube's field names. The SP private key is write-only: GET says whether one is set, and
 * a PUT that omits it keeps the stored one.
 */
import type { FastifyInstance } from 'fastify';
import { describeCertificate, splitPemCertificates, type SamlConfig, type SamlConfigInput } from '../../../auth/saml-config.ts';
import type { Services } from '../../../services.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Registers GET and PUT /api/v2/authentication/saml. */
export function samlSettingsRoutes(app: FastifyInstance, services: Services): void {
  app.get('/api/v2/authentication/saml', async (_request, reply) => {
    const config = await services.saml.get();
    if (config === undefined) return reply.code(404).send({ message: 'SAML is not configured.' });
    return view(config, services);
  });

  app.put('/api/v2/authentication/saml', async (request, reply) => {
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return reply.code(400).send({ message: 'Send the SAML configuration as a JSON object.' });
    }
    const parsed = toInput(body as Record<string, unknown>, await services.saml.get());
    if ('error' in parsed) return reply.code(400).send({ message: parsed.error, errors: [{ field: parsed.field, message: parsed.error }] });
    const result = await services.saml.configure(parsed.input, request.actor);
    if (!result.ok) {
      const errors = result.errors.map((issue) => ({ field: issue.field, message: issue.message, ...(issue.index === undefined ? {} : { index: issue.index }) }));
      const message = errors.map((error) => `Value for field ${error.field} was rejected: ${error.message}.`).join(' ');
      return reply.code(400).send({ message, errors });
    }
    return { ...view(result.config, services), warnings: result.warnings.map((issue) => ({ field: issue.field, message: issue.message })) };
  });
}

/** The configuration as administrators see it: no private key, certificate details and the URLs to give the IdP. */
function view(config: SamlConfig, services: Services) {
  const now = Date.now();
  const { spPrivateKey, ...visible } = config;
  return {
    ...visible,
    spPrivateKeyConfigured: spPrivateKey !== null,
    serviceProvider: {
      entityId: services.samlSp.entityId(config),
      acsUrl: services.samlSp.acsUrl,
      metadataUrl: services.samlSp.acsUrl.replace(/\/acs$/, '/metadata'),
    },
    certificateDetails: config.certificates.map((pem) => {
      const info = describeCertificate(pem);
      const daysLeft = Math.floor((Date.parse(info.validTo) - now) / DAY_MS);
      return { ...info, daysLeft, expired: daysLeft < 0, expiresWithin30Days: daysLeft < 30 };
    }),
  };
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

type Parsed = { input: SamlConfigInput } | { error: string; field: string };

/** Checks JSON types; the values themselves are checked by validateSamlConfig. */
function toInput(body: Record<string, unknown>, current: SamlConfig | undefined): Parsed {
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
  // SonarQube's field is `certificate` (one PEM text, possibly several certificates); a list is accepted too.
  let certificates: string[] = [];
  const raw = body['certificates'] ?? body['certificate'];
  if (typeof raw === 'string') certificates = splitPemCertificates(raw);
  else if (Array.isArray(raw) && raw.every((item): item is string => typeof item === 'string')) certificates = raw;
  else if (raw !== undefined) return { error: 'Value for field certificate was rejected: must be PEM text or a list of PEM texts.', field: 'certificates' };
  // The key is write-only: omitted means "keep", as long as the certificate it belongs to is kept too.
  const keepKey =
    body['spPrivateKey'] === undefined &&
    current?.spPrivateKey != null &&
    (values.spCertificate === undefined || sameCertificate(values.spCertificate, current.spCertificate));
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
      spPrivateKey: keepKey ? current?.spPrivateKey : values.spPrivateKey,
      signRequests: body['signRequests'] === true,
      allowIdpInitiated: body['allowIdpInitiated'] === true,
    },
  };
}
