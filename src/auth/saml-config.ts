/**
 * The SAML identity provider as Roster trusts it: who it is (entity ID), where to send
 * users to sign in, which certificates may sign its responses, and which attributes carry
 * the login, name, email and groups. Field names follow SonarQube's SAML settings. Stored as
 * the `saml` setting. Validation returns a result naming the wrong field (STYLE.md §6) so the
 * CLI and the admin console can point at it.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import type { Actor } from '../journal/actor.ts';
import { DirectoryError } from '../errors.ts';
import { defineSetting, type Settings } from '../settings.ts';
import { shorten } from '../text.ts';
import { asPem, chainIssuers, checkCertificate, describeCertificate, fingerprintOf, pemProblem, publicKeyOf, splitPemCertificates, type CertificateInfo } from './saml-certificates.ts';

/** The stored configuration. Certificates are PEM, one certificate each. */
export interface SamlConfig {
  /** Our SP entity ID (the audience of assertions); null means `<base URL>/saml/metadata`. */
  readonly applicationId: string | null;
  /** The name shown on the sign-in button and pages. */
  readonly providerName: string;
  /** The IdP's entity ID (the Issuer of its responses). */
  readonly providerId: string;
  /** The IdP's single sign-on URL. */
  readonly loginUrl: string;
  readonly certificates: readonly string[];
  /** The attribute matched to the SCIM userName; null means the assertion's NameID. */
  readonly userLoginAttribute: string | null;
  /** The attribute holding the display name; null means the login. */
  readonly userNameAttribute: string | null;
  readonly userEmailAttribute: string | null;
  /** The attribute listing group names (just-in-time mode only); null leaves groups alone. */
  readonly groupAttribute: string | null;
  /** Sign AuthnRequests with the SP key (SonarQube's "Sign requests"). */
  readonly signRequests: boolean;
  /** The SP certificate (PEM), published in our metadata for request signing and assertion encryption. */
  readonly spCertificate: string | null;
  /** The SP private key (PEM, unencrypted): signs requests and decrypts encrypted assertions. */
  readonly spPrivateKey: string | null;
  /**
   * Further SP key pairs during a rollover (the next one before the switch, the previous one
   * after it): published in our metadata beside the current one and tried for decryption, never
   * used to sign. Empty outside a rollover.
   */
  readonly spAdditionalKeyPairs: readonly SpKeyPair[];
  /** Accept responses that answer no request of ours (IdP-initiated sign-in); off by default. */
  readonly allowIdpInitiated: boolean;
}

/** One SP key pair: a certificate (PEM) and its private key (PEM, unencrypted). */
export interface SpKeyPair {
  readonly certificate: string;
  readonly privateKey: string;
}

/**
 * Unchecked input, e.g. from CLI flags, the admin API or parsed metadata. Certificates may be
 * PEM or bare base64 DER. Omitted optional fields take their defaults.
 */
export interface SamlConfigInput {
  readonly providerId: string;
  readonly loginUrl: string;
  readonly certificates: readonly string[];
  readonly applicationId?: string | null | undefined;
  readonly providerName?: string | null | undefined;
  readonly userLoginAttribute?: string | null | undefined;
  readonly userNameAttribute?: string | null | undefined;
  readonly userEmailAttribute?: string | null | undefined;
  readonly groupAttribute?: string | null | undefined;
  readonly signRequests?: boolean | undefined;
  readonly spCertificate?: string | null | undefined;
  readonly spPrivateKey?: string | null | undefined;
  /** Further key pairs (a rollover's next or previous one); a missing private key is refused. */
  readonly spAdditionalKeyPairs?: ReadonlyArray<{ readonly certificate?: string | null | undefined; readonly privateKey?: string | null | undefined }> | undefined;
  readonly allowIdpInitiated?: boolean | undefined;
}

export type SamlField =
  | 'applicationId'
  | 'providerName'
  | 'providerId'
  | 'loginUrl'
  | 'certificates'
  | 'userLoginAttribute'
  | 'userNameAttribute'
  | 'userEmailAttribute'
  | 'groupAttribute'
  | 'signRequests'
  | 'spCertificate'
  | 'spPrivateKey'
  | 'spAdditionalKeyPairs';

/**
 * One problem with one field; `index` says which certificate (or which additional SP key pair),
 * `part` which half of an additional SP key pair.
 */
export interface SamlIssue {
  readonly field: SamlField;
  readonly message: string;
  readonly index?: number;
  readonly part?: 'certificate' | 'privateKey';
}

export type SamlValidation =
  | {
      readonly ok: true;
      readonly config: SamlConfig;
      readonly certificates: readonly CertificateInfo[];
      readonly warnings: readonly SamlIssue[];
    }
  | { readonly ok: false; readonly errors: readonly SamlIssue[]; readonly warnings: readonly SamlIssue[] };

/**
 * The longest values of the text fields (the console's fields take theirs from here). The IdP
 * sign-in URL gets a SAMLRequest appended: with a longer one, browsers and proxies start refusing
 * the redirect. Entity IDs and attribute names share one bound.
 */
export const SAML_LIMITS = { providerName: 100, providerId: 1024, loginUrl: 2048 } as const;
/** How much of a refused value an error message quotes. */
const QUOTED_LENGTH = 200;
const DEFAULT_PROVIDER_NAME = 'SAML';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The `saml` setting. Its audit summary leaves out the PEM text but keeps fingerprints, so a rotation is traceable. */
export const samlSetting = defineSetting<SamlConfig>({
  key: 'saml',
  parse: parseStoredConfig,
  audit: (config) => ({
    ...config,
    certificates: config.certificates.map((pem) => new X509Certificate(pem).fingerprint256),
    spCertificate: config.spCertificate === null ? null : new X509Certificate(config.spCertificate).fingerprint256,
    // Never the key itself: the audit trail is delivered to other applications.
    spPrivateKey: config.spPrivateKey === null ? null : 'configured',
    // Their certificates' fingerprints only: a rollover's steps are traceable, the keys stay out.
    spAdditionalKeyPairs: config.spAdditionalKeyPairs.map((pair) => new X509Certificate(pair.certificate).fingerprint256),
  }),
});

/** Reads and stores the SAML configuration through the settings table. */
export interface SamlConfigService {
  /** The stored configuration, or undefined when SAML is not configured. */
  get(): Promise<SamlConfig | undefined>;
  /**
   * Validates `input` and stores it only if valid; the result says what was wrong. `basedOn` is
   * the configuration `input` was made from (the CLI's options and the admin API's omitted fields
   * keep its values): when another change was stored since, nothing is stored and a `conflict`
   * DirectoryError says so, rather than overwriting that change (a rollover step, say).
   */
  configure(input: SamlConfigInput, actor: Actor, options?: { readonly basedOn: SamlConfig | undefined }): Promise<SamlValidation>;
  /**
   * Applies a rollover step to the stored SP key pairs (add the next one, make one current,
   * remove one) and stores the result if valid, every other setting kept as stored.
   */
  rollSpKeys(rollover: SpKeyRollover, actor: Actor): Promise<SpKeyRolloverOutcome>;
}

/** What `rollSpKeys` did: a refused step, or the validation of the configuration it made. */
export type SpKeyRolloverOutcome = { readonly ok: false; readonly refused: SpKeyStepRefusal } | SamlValidation;

/** Every certificate a stored configuration holds (the IdP's and the SP's): those may be kept as they are. */
export function storedCertificates(config: SamlConfig | undefined): string[] {
  if (config === undefined) return [];
  return [...config.certificates, ...spKeyPairsOf(config).map((pair) => pair.certificate)];
}

/** Every SP key pair of a configuration, the current one (which signs requests) first. */
export function spKeyPairsOf(config: SamlConfig): SpKeyPair[] {
  const current = config.spCertificate !== null && config.spPrivateKey !== null ? [{ certificate: config.spCertificate, privateKey: config.spPrivateKey }] : [];
  return [...current, ...config.spAdditionalKeyPairs];
}

/**
 * The stored private key of the SP key pair whose certificate is `certificate` (PEM, compared by
 * fingerprint), current or additional; undefined when none is stored. The key is write-only, so
 * a form or PUT that names a stored pair by its certificate alone keeps its key.
 */
export function storedSpPrivateKey(config: SamlConfig | undefined, certificate: string): string | undefined {
  if (config === undefined) return undefined;
  const wanted = fingerprintOf(certificate);
  if (wanted === undefined) return undefined;
  return spKeyPairsOf(config).find((pair) => fingerprintOf(pair.certificate) === wanted)?.privateKey;
}

/** Why a change made from a configuration read before another change was stored is refused. */
export const CHANGED_MEANWHILE =
  'The SAML configuration was changed by someone else (another administrator, or another instance) while this change was being made: nothing was changed; read the configuration again and repeat the change.';

/** Creates the SAML configuration service. */
export function createSamlConfigService(settings: Settings): SamlConfigService {
  return {
    get: () => settings.get(samlSetting),
    configure(input, actor, options) {
      return settings.update(
        samlSetting,
        (stored): { value?: SamlConfig; result: SamlValidation } => {
          if (options !== undefined && JSON.stringify(stored) !== JSON.stringify(options.basedOn)) throw new DirectoryError('conflict', CHANGED_MEANWHILE);
          const result = validateSamlConfig(input, new Date(), storedCertificates(stored));
          return result.ok ? { value: result.config, result } : { result };
        },
        actor,
      );
    },
    rollSpKeys(rollover, actor) {
      // Applied to what is stored at the moment of writing, the row locked: a step taken at the
      // same time on another instance (another administrator's) is kept, not overwritten.
      return settings.update(
        samlSetting,
        (stored): { value?: SamlConfig; result: SpKeyRolloverOutcome } => {
          if (stored === undefined) return { result: { ok: false, refused: { step: rollover.add !== undefined ? 'add' : rollover.use !== undefined ? 'use' : 'remove', message: 'SAML is not configured' } } };
          const rolled = rollSpKeys(stored, rollover);
          if (!rolled.ok) return { result: { ok: false, refused: rolled } };
          const result = validateSamlConfig({ ...stored, ...rolled.keys }, new Date(), storedCertificates(stored));
          return result.ok ? { value: result.config, result } : { result };
        },
        actor,
      );
    },
  };
}

/** A SHA-256 fingerprint as `saml show` and the admin API print it (and openssl x509 -fingerprint -sha256). */
const FINGERPRINT = /^(?:[0-9a-f]{2}:){31}[0-9a-f]{2}$/i;

/**
 * `name` as the SHA-256 fingerprint `saml show` prints (upper case, colons) if it is one: with
 * or without colons (as openssl and other tools print it), in either case; undefined otherwise.
 */
export function asSha256Fingerprint(name: string): string | undefined {
  const trimmed = name.trim();
  const hex = FINGERPRINT.test(trimmed) ? trimmed.replace(/:/g, '') : /^[0-9a-f]{64}$/i.test(trimmed) ? trimmed : undefined;
  return hex?.toUpperCase().match(/../g)?.join(':');
}

/**
 * A step of an SP key pair rollover (docs/saml.md). Certificates are named by their SHA-256
 * fingerprint or their PEM text. Applied in this order: add, use, remove.
 */
export interface SpKeyRollover {
  /** The next key pair (unchecked PEM text): published and decrypting beside the current one, signing nothing yet. */
  readonly add?: { readonly certificate: string; readonly privateKey: string } | undefined;
  /** The key pair to make current: it signs requests from then on; the previous current one keeps decrypting. */
  readonly use?: string | undefined;
  /** The key pairs to remove (never the current one): assertions encrypted to them are refused from then on. */
  readonly remove?: readonly string[] | undefined;
}

/** Why a rollover step cannot be applied; `name` is the certificate as it was named. */
export interface SpKeyStepRefusal {
  readonly step: 'add' | 'use' | 'remove';
  readonly message: string;
  readonly name?: string;
}

/** The SP key pair fields a rollover sets, in a form validateSamlConfig checks. */
export type SpKeyFields = Required<Pick<SamlConfigInput, 'spCertificate' | 'spPrivateKey' | 'spAdditionalKeyPairs'>>;

/**
 * Applies a rollover step to the SP key pairs of `config`, or says why it cannot: no key pair
 * to roll over, a key pair added twice, a certificate that names no stored key pair, the current
 * one made current again or removed. The added pair's text is checked by validateSamlConfig.
 */
export function rollSpKeys(config: SamlConfig, rollover: SpKeyRollover): { readonly ok: true; readonly keys: SpKeyFields } | ({ readonly ok: false } & SpKeyStepRefusal) {
  const pairs: Array<{ certificate: string; privateKey: string }> = spKeyPairsOf(config);
  // A name is a fingerprint or certificate text (PEM or bare base64); text that holds no
  // certificate (a private key file given by mistake, an empty field) names nothing, and is said
  // to, rather than removing nothing and reporting success.
  const fingerprints = (name: string): string[] => {
    const fingerprint = asSha256Fingerprint(name);
    return fingerprint !== undefined ? [fingerprint] : splitPemCertificates(name).map((pem) => fingerprintOf(pem) ?? '');
  };
  const indexOf = (fingerprint: string): number => pairs.findIndex((pair) => fingerprintOf(pair.certificate) === fingerprint);
  const subjectOf = (text: string): string => describeCertificate(asPem(text)).subject;
  const notFound = (step: 'use' | 'remove', name: string, fingerprint: string) =>
    ({ ok: false, step, name, message: FINGERPRINT.test(fingerprint) ? `no SP key pair has the certificate with the SHA-256 ${fingerprint}` : 'the text is not a certificate of an SP key pair' }) as const;
  const noCertificate = (step: 'use' | 'remove', name: string) =>
    ({ ok: false, step, name, message: 'the text holds no certificate: name the SP key pair by its certificate (PEM) or its SHA-256 fingerprint' }) as const;
  if (pairs.length === 0) {
    const step = rollover.add !== undefined ? 'add' : rollover.use !== undefined ? 'use' : 'remove';
    return { ok: false, step, message: 'no SP key pair is configured yet, so there is none to roll over: set the SP certificate and private key' };
  }
  if (rollover.add !== undefined) {
    const fingerprint = fingerprintOf(rollover.add.certificate.trim());
    // Unreadable text is left to validateSamlConfig, which says what it is instead.
    if (fingerprint !== undefined && indexOf(fingerprint) !== -1) {
      const role = indexOf(fingerprint) === 0 ? 'the current SP key pair' : 'already an SP key pair';
      return { ok: false, step: 'add', message: `the certificate ${subjectOf(rollover.add.certificate.trim())} (SHA-256 ${fingerprint}) is ${role}` };
    }
    pairs.push({ certificate: rollover.add.certificate, privateKey: rollover.add.privateKey });
  }
  if (rollover.use !== undefined) {
    const named = fingerprints(rollover.use);
    if (named.length === 0) return noCertificate('use', rollover.use);
    const [fingerprint = ''] = named;
    const index = indexOf(fingerprint);
    if (index === -1) return notFound('use', rollover.use, fingerprint);
    // Checked before the pair is taken out of the list: pairs[0] is then still the one named.
    if (index === 0) return { ok: false, step: 'use', name: rollover.use, message: `the certificate ${subjectOf(pairs[0]?.certificate ?? rollover.use)} (SHA-256 ${fingerprint}) is already the current SP key pair` };
    const [chosen] = pairs.splice(index, 1);
    if (chosen !== undefined) pairs.unshift(chosen);
  }
  for (const name of rollover.remove ?? []) {
    const named = fingerprints(name);
    if (named.length === 0) return noCertificate('remove', name);
    for (const fingerprint of named) {
      const index = indexOf(fingerprint);
      if (index === -1) return notFound('remove', name, fingerprint);
      if (index === 0) {
        return { ok: false, step: 'remove', name, message: `the certificate ${subjectOf(pairs[0]?.certificate ?? '')} (SHA-256 ${fingerprint}) is the current SP key pair, which signs requests: make the next one current first` };
      }
      pairs.splice(index, 1);
    }
  }
  const [current, ...rest] = pairs;
  return { ok: true, keys: { spCertificate: current?.certificate ?? null, spPrivateKey: current?.privateKey ?? null, spAdditionalKeyPairs: rest } };
}

/**
 * The IdP certificates `stored` with `added` and without those `removed` (named by PEM text or
 * SHA-256 fingerprint), or why not: adding one already trusted, or removing one not trusted.
 */
export function stepIdpCertificates(
  stored: readonly string[],
  added: readonly string[],
  removed: ReadonlyArray<{ readonly name: string; readonly certificates: readonly string[] }>,
): { readonly ok: true; readonly certificates: string[] } | { readonly ok: false; readonly step: 'add' | 'remove'; readonly name?: string; readonly message: string } {
  // Node writes SHA-256 fingerprints in upper case, as asSha256Fingerprint does.
  const fingerprint = (pem: string): string => fingerprintOf(pem) ?? '';
  const trusted = new Set(stored.map(fingerprint));
  const result = [...stored];
  for (const pem of added) {
    const print = fingerprint(pem);
    if (trusted.has(print)) return { ok: false, step: 'add', message: `the certificate ${describeCertificate(pem).subject} (SHA-256 ${print}) is already trusted` };
    trusted.add(print);
    result.push(pem);
  }
  for (const { name, certificates } of removed) {
    const named = asSha256Fingerprint(name);
    const prints = named !== undefined ? [named] : certificates.map(fingerprint);
    for (const print of prints) {
      const index = result.findIndex((pem) => fingerprint(pem) === print);
      if (index === -1) return { ok: false, step: 'remove', name, message: `no trusted certificate has the SHA-256 ${print}` };
      result.splice(index, 1);
    }
  }
  return { ok: true, certificates: result };
}

/**
 * Checks every field and normalises the certificates to PEM; `now` is for tests. `stored` are
 * the certificates already configured: one of them that has expired since may be kept (sign-in
 * refuses it as certificate_expired, and what GET returned must still PUT back), while an
 * expired certificate being added is refused.
 */
export function validateSamlConfig(input: SamlConfigInput, now: Date = new Date(), stored: readonly string[] = []): SamlValidation {
  const errors: SamlIssue[] = [];
  const warnings: SamlIssue[] = [];

  const providerId = input.providerId.trim();
  if (providerId === '') errors.push({ field: 'providerId', message: 'the IdP entity ID must not be empty' });
  else if (providerId.length > SAML_LIMITS.providerId) {
    errors.push({ field: 'providerId', message: `the IdP entity ID must be at most ${SAML_LIMITS.providerId} characters` });
  }

  const loginUrl = input.loginUrl.trim();
  const urlProblem = checkLoginUrl(loginUrl);
  if (urlProblem !== undefined) errors.push({ field: 'loginUrl', message: urlProblem });

  const pems: string[] = [];
  const infos: CertificateInfo[] = [];
  if (input.certificates.length === 0) {
    // Without a certificate no response could be verified, so sign-in could never work.
    errors.push({ field: 'certificates', message: 'at least one IdP signing certificate is required' });
  }
  const storedFingerprints = new Set(stored.flatMap((pem) => fingerprintOf(pem) ?? []));
  const readable = input.certificates.flatMap((text, index) => {
    const checked = checkCertificate(text, now, storedFingerprints);
    if ('error' in checked) {
      errors.push({ field: 'certificates', index, message: checked.error });
      return [];
    }
    return [{ ...checked, index }];
  });
  const issued = chainIssuers(readable.map((checked) => checked.pem));
  readable.forEach((checked, at) => {
    const { index } = checked;
    const child = issued.get(at);
    if (child !== undefined) {
      // A chain pasted whole: trusting its authority's key would accept any certificate it signs.
      const problem = `the certificate ${checked.info.subject} issued ${readable[child]?.info.subject ?? 'another'} listed beside it: it is a certificate authority's, not a signing certificate; give only the identity provider's signing certificate`;
      if (!storedFingerprints.has(checked.info.fingerprint256)) {
        errors.push({ field: 'certificates', index, message: problem });
        return;
      }
      warnings.push({ field: 'certificates', index, message: `${problem}; remove it` });
    } else if (checked.warning !== undefined) warnings.push({ field: 'certificates', index, message: checked.warning });
    // IdPs often list the same certificate twice (once per use); keep one.
    if (infos.some((info) => info.fingerprint256 === checked.info.fingerprint256)) return;
    pems.push(checked.pem);
    infos.push(checked.info);
  });

  const applicationId = optionalText(input.applicationId);
  if (applicationId !== null && applicationId.length > SAML_LIMITS.providerId) {
    errors.push({ field: 'applicationId', message: `the application ID must be at most ${SAML_LIMITS.providerId} characters` });
  }
  const providerName = optionalText(input.providerName) ?? DEFAULT_PROVIDER_NAME;
  if (providerName.length > SAML_LIMITS.providerName) {
    errors.push({ field: 'providerName', message: `the provider name must be at most ${SAML_LIMITS.providerName} characters` });
  }
  const attributes = {
    userLoginAttribute: optionalText(input.userLoginAttribute),
    userNameAttribute: optionalText(input.userNameAttribute),
    userEmailAttribute: optionalText(input.userEmailAttribute),
    groupAttribute: optionalText(input.groupAttribute),
  };
  for (const [field, value] of Object.entries(attributes) as Array<[SamlField, string | null]>) {
    if (value !== null && value.length > SAML_LIMITS.providerId) {
      errors.push({ field, message: `the attribute name must be at most ${SAML_LIMITS.providerId} characters` });
    }
  }
  const keyPair = checkKeyPair(optionalText(input.spCertificate), optionalText(input.spPrivateKey), now, errors, warnings, storedFingerprints);
  const additional: SpKeyPair[] = [];
  const pairFingerprints = new Set(keyPair === undefined ? [] : [fingerprintOf(keyPair.certificate)]);
  (input.spAdditionalKeyPairs ?? []).forEach((pair, index) => {
    const checked = checkKeyPair(optionalText(pair.certificate), optionalText(pair.privateKey), now, errors, warnings, storedFingerprints, index);
    if (checked === undefined) return;
    const fingerprint = fingerprintOf(checked.certificate);
    if (pairFingerprints.has(fingerprint)) {
      errors.push({ field: 'spAdditionalKeyPairs', index, part: 'certificate', message: `the certificate ${describeCertificate(checked.certificate).subject} is already an SP key pair; give each key pair once` });
      return;
    }
    pairFingerprints.add(fingerprint);
    additional.push(checked);
  });
  if ((input.spAdditionalKeyPairs ?? []).length > 0 && keyPair === undefined && !errors.some((issue) => issue.field === 'spCertificate' || issue.field === 'spPrivateKey')) {
    // The current pair is the one that signs requests and that the metadata lists first.
    errors.push({ field: 'spCertificate', message: 'the SP certificate and private key are required beside additional SP key pairs: make one of them the current key pair, or remove them too' });
  }
  const signRequests = input.signRequests === true;
  if (signRequests && keyPair === undefined) {
    errors.push({ field: 'signRequests', message: 'signing requests needs the SP certificate and private key' });
  }

  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    config: {
      applicationId,
      providerName,
      providerId,
      loginUrl,
      certificates: pems,
      ...attributes,
      signRequests,
      spCertificate: keyPair?.certificate ?? null,
      spPrivateKey: keyPair?.privateKey ?? null,
      spAdditionalKeyPairs: additional,
      allowIdpInitiated: input.allowIdpInitiated === true,
    },
    certificates: infos,
    warnings,
  };
}

/**
 * Checks an SP key pair: both or neither, each parses, and the key belongs to the certificate.
 * Without `index` it is the current pair (fields spCertificate and spPrivateKey); with it, the
 * additional pair at that index (field spAdditionalKeyPairs): the same rules and words.
 */
function checkKeyPair(
  certificateText: string | null,
  keyText: string | null,
  now: Date,
  errors: SamlIssue[],
  warnings: SamlIssue[],
  kept: ReadonlySet<string>,
  index?: number,
): { certificate: string; privateKey: string } | undefined {
  const issue = (field: 'spCertificate' | 'spPrivateKey', message: string): SamlIssue =>
    index === undefined ? { field, message } : { field: 'spAdditionalKeyPairs', index, message, part: field === 'spCertificate' ? 'certificate' : 'privateKey' };
  if (certificateText === null && keyText === null) {
    if (index !== undefined) errors.push(issue('spCertificate', 'the SP certificate and private key are required'));
    return undefined;
  }
  if (certificateText === null) {
    errors.push(issue('spCertificate', 'the SP certificate is required with the SP private key'));
    return undefined;
  }
  if (keyText === null) {
    errors.push(issue('spPrivateKey', 'the SP private key is required with the SP certificate'));
    return undefined;
  }
  let publicOfKey: string | undefined;
  let keyProblem: unknown;
  try {
    publicOfKey = createPublicKey(createPrivateKey(keyText)).export({ type: 'spki', format: 'pem' }).toString();
  } catch (error) {
    keyProblem = error;
  }
  const chosen = publicOfKey === undefined ? { text: certificateText } : ownCertificate(certificateText, publicOfKey);
  if ('error' in chosen) {
    errors.push(issue('spPrivateKey', chosen.error));
    return undefined;
  }
  const checked = checkCertificate(chosen.text, now, kept);
  if ('error' in checked) {
    errors.push(issue('spCertificate', checked.error));
    return undefined;
  }
  if (publicOfKey === undefined) {
    errors.push(issue('spPrivateKey', pemProblem(keyText, 'key', keyProblem)));
    return undefined;
  }
  if (chosen.warning !== undefined) warnings.push(issue('spCertificate', chosen.warning));
  if (checked.warning !== undefined) warnings.push(issue('spCertificate', checked.warning));
  if (publicOfKey !== publicKeyOf(checked.pem)) {
    errors.push(issue('spPrivateKey', 'the SP private key does not belong to the SP certificate'));
    return undefined;
  }
  return { certificate: checked.pem, privateKey: keyText };
}

/**
 * The one certificate of an SP key pair in a text that may hold several: a file with the chain
 * after the SP's own certificate (what a CA hands out) is common. The key says which is ours;
 * the others are not stored, and a warning says so rather than keeping the first one silently.
 */
function ownCertificate(text: string, publicOfKey: string): { text: string; warning?: string } | { error: string } {
  const blocks = splitPemCertificates(text);
  if (blocks.length < 2) return { text };
  const own = blocks.find((pem) => publicKeyOf(pem) === publicOfKey);
  if (own === undefined) return { error: `the SP private key belongs to none of the ${blocks.length} certificates in the SP certificate text; give the certificate of this key` };
  return { text: own, warning: `the SP certificate text holds ${blocks.length} certificates; only the one the SP private key belongs to (${describeCertificate(own).subject}) is stored, the others (a chain) are not needed` };
}

/** Blank means "not set", so forms and flags can clear a field by sending an empty value. */
function optionalText(value: string | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  const trimmed = value.trim();
  return trimmed === '' ? null : trimmed;
}

function checkLoginUrl(value: string): string | undefined {
  const rule = 'must be an absolute https URL (http is allowed only for localhost)';
  if (value === '') return `the IdP sign-in URL ${rule}`;
  // Quoted, but not in full: an error message does not echo a megabyte of input back.
  const got = `(got "${shorten(value, QUOTED_LENGTH)}")`;
  if (value.length > SAML_LIMITS.loginUrl) return `the IdP sign-in URL must be at most ${SAML_LIMITS.loginUrl} characters ${got}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `the IdP sign-in URL ${rule} ${got}`;
  }
  const local = LOOPBACK_HOSTS.has(url.hostname);
  if (url.protocol === 'https:' || (url.protocol === 'http:' && local)) return undefined;
  return `the IdP sign-in URL ${rule} ${got}`;
}

/** Reads the stored JSON; fields added after the first version take their defaults when absent. */
function parseStoredConfig(raw: unknown): SamlConfig | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const value = raw as Record<string, unknown>;
  const { providerId, loginUrl, certificates } = value;
  if (typeof providerId !== 'string' || typeof loginUrl !== 'string' || !Array.isArray(certificates)) return undefined;
  if (!certificates.every((c): c is string => typeof c === 'string')) return undefined;
  const text = (key: string): string | null | false => {
    const field = value[key];
    if (field === undefined || field === null) return null;
    return typeof field === 'string' ? field : false;
  };
  const flag = (key: string): boolean | undefined => {
    const field = value[key];
    if (field === undefined) return false;
    return typeof field === 'boolean' ? field : undefined;
  };
  const fields = {
    applicationId: text('applicationId'),
    providerName: text('providerName'),
    userLoginAttribute: text('userLoginAttribute'),
    userNameAttribute: text('userNameAttribute'),
    userEmailAttribute: text('userEmailAttribute'),
    groupAttribute: text('groupAttribute'),
    spCertificate: text('spCertificate'),
    spPrivateKey: text('spPrivateKey'),
  };
  if (Object.values(fields).some((field) => field === false)) return undefined;
  const signRequests = flag('signRequests');
  const allowIdpInitiated = flag('allowIdpInitiated');
  if (signRequests === undefined || allowIdpInitiated === undefined) return undefined;
  // Added with the SP key rollover: absent in what earlier versions stored.
  const additional = value['spAdditionalKeyPairs'] ?? [];
  const isPair = (pair: unknown): pair is SpKeyPair =>
    typeof pair === 'object' && pair !== null && typeof (pair as Record<string, unknown>)['certificate'] === 'string' && typeof (pair as Record<string, unknown>)['privateKey'] === 'string';
  if (!Array.isArray(additional) || !additional.every(isPair)) return undefined;
  const t = fields as Record<keyof typeof fields, string | null>;
  return {
    applicationId: t.applicationId,
    providerName: t.providerName ?? DEFAULT_PROVIDER_NAME,
    providerId,
    loginUrl,
    certificates,
    userLoginAttribute: t.userLoginAttribute,
    userNameAttribute: t.userNameAttribute,
    userEmailAttribute: t.userEmailAttribute,
    groupAttribute: t.groupAttribute,
    signRequests,
    spCertificate: t.spCertificate,
    spPrivateKey: t.spPrivateKey,
    spAdditionalKeyPairs: additional.map((pair) => ({ certificate: pair.certificate, privateKey: pair.privateKey })),
    allowIdpInitiated,
  };
}
