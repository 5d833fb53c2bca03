/** `roster saml …`: configure and show the SAML identity provider. */
import { readFileSync } from 'node:fs';
import { parseArgs } from './options.ts';
import {
  asSha256Fingerprint,
  rollSpKeys,
  stepIdpCertificates,
  type SamlConfig,
  type SamlConfigInput,
  type SamlIssue,
} from '../auth/saml-config.ts';
import { describeCertificate, splitPemCertificates } from '../auth/saml-certificates.ts';
import { parseIdpMetadata } from '../auth/saml-metadata.ts';
import { DirectoryError } from '../errors.ts';
import type { CliContext, CommandGroup } from './command.ts';

const CONFIGURE_USAGE = [
  'Usage: roster saml configure --idp-entity-id <id> --idp-sso-url <url> --idp-certificate <pem-file>',
  '       roster saml configure --idp-metadata <xml-file>',
  '',
  'Stores the identity provider that users sign in with. Run again, it changes only what the',
  'options given say: every setting not given keeps its stored value (e.g. `--idp-metadata md.xml`',
  'alone replaces the IdP entity ID, sign-in URL and certificates and keeps the attributes and the',
  'SP key pair). An empty value clears an optional setting: --login-attribute "".',
  '',
  'Options:',
  '  --idp-entity-id <id>          the IdP entity ID (Entra ID: "Microsoft Entra Identifier"; Okta: "Identity Provider Issuer")',
  '  --idp-sso-url <url>           the IdP sign-in URL (https; http only for localhost)',
  '  --idp-certificate <pem-file>  the IdP signing certificate; repeat it to trust several during a rollover',
  '                                (replaces the whole list: name every certificate to keep)',
  '  --add-idp-certificate <pem-file>   trusts this certificate beside the stored ones (a rollover\'s first step)',
  '  --remove-idp-certificate <pem-file | SHA-256>   stops trusting a stored certificate, named by its',
  '                                file or by the SHA-256 `saml show` prints (a rollover\'s last step)',
  '  --idp-metadata <xml-file>     the IdP federation metadata XML, instead of the three options above',
  '  --application-id <id>         our SP entity ID (default: <ROSTER_BASE_URL>/saml/metadata)',
  '  --provider-name <name>        the name shown to users (default: SAML)',
  '  --login-attribute <name>      the attribute matched to the SCIM userName (default: the NameID)',
  '  --name-attribute <name>       the attribute holding the display name',
  '  --email-attribute <name>      the attribute holding the email address',
  '  --group-attribute <name>      the attribute listing group names (just-in-time mode)',
  '  --sp-certificate <pem-file>   our certificate, published in /saml/metadata',
  '  --sp-private-key <pem-file>   our private key: signs requests, decrypts encrypted assertions',
  '                                (replaces the current key pair at once: for a rollover use the three below)',
  '  --add-sp-certificate <pem-file> --add-sp-private-key <pem-file>   adds the next SP key pair beside the',
  '                                current one: published in /saml/metadata and decrypting, signing nothing yet',
  '                                (a rollover\'s first step)',
  '  --use-sp-certificate <pem-file | SHA-256>   makes that SP key pair the current one: it signs requests;',
  '                                the previous one keeps decrypting until removed',
  '  --remove-sp-certificate <pem-file | SHA-256>   removes an SP key pair that is not the current one',
  '                                (a rollover\'s last step)',
  '  --sign-requests               sign AuthnRequests (needs --sp-certificate and --sp-private-key)',
  '  --no-sign-requests            stop signing AuthnRequests',
  '  --allow-idp-initiated         accept sign-ins started at the IdP (off: only sign-ins started at Roster)',
  '  --no-allow-idp-initiated      refuse sign-ins started at the IdP again',
  '  (--sp-certificate "" --sp-private-key "" removes the SP key pair)',
].join('\n');

/** Which option each field came from, for messages that point at what to fix. */
const COMMON_LABELS = {
  applicationId: '--application-id',
  providerName: '--provider-name',
  userLoginAttribute: '--login-attribute',
  userNameAttribute: '--name-attribute',
  userEmailAttribute: '--email-attribute',
  groupAttribute: '--group-attribute',
  signRequests: '--sign-requests',
  spCertificate: '--sp-certificate',
  spPrivateKey: '--sp-private-key',
  spAdditionalKeyPairs: '--add-sp-certificate/--add-sp-private-key',
} as const;
const FLAG_LABELS: Record<SamlIssue['field'], string> = {
  ...COMMON_LABELS,
  providerId: '--idp-entity-id',
  loginUrl: '--idp-sso-url',
  certificates: '--idp-certificate',
};
const METADATA_LABELS: Record<SamlIssue['field'], string> = {
  ...COMMON_LABELS,
  providerId: 'metadata entityID',
  loginUrl: 'metadata SingleSignOnService Location',
  certificates: 'metadata X509Certificate',
};

/** The `saml` command group. */
export const samlCommands: CommandGroup = {
  name: 'saml',
  summary: 'configure SAML sign-in (required before SCIM)',
  commands: {
    configure: {
      summary: 'set the identity provider (from options or from metadata XML)',
      usage: CONFIGURE_USAGE,
      async run(args, context) {
        const { values } = parseArgs({
          args,
          options: {
            'idp-entity-id': { type: 'string' },
            'idp-sso-url': { type: 'string' },
            'idp-certificate': { type: 'string', multiple: true },
            'add-idp-certificate': { type: 'string', multiple: true },
            'remove-idp-certificate': { type: 'string', multiple: true },
            'idp-metadata': { type: 'string' },
            'application-id': { type: 'string' },
            'provider-name': { type: 'string' },
            'login-attribute': { type: 'string' },
            'name-attribute': { type: 'string' },
            'email-attribute': { type: 'string' },
            'group-attribute': { type: 'string' },
            'sp-certificate': { type: 'string' },
            'sp-private-key': { type: 'string' },
            'add-sp-certificate': { type: 'string' },
            'add-sp-private-key': { type: 'string' },
            'use-sp-certificate': { type: 'string' },
            'remove-sp-certificate': { type: 'string', multiple: true },
            'sign-requests': { type: 'boolean' },
            'allow-idp-initiated': { type: 'boolean' },
            'no-sign-requests': { type: 'boolean' },
            'no-allow-idp-initiated': { type: 'boolean' },
          },
        });
        if (values['sign-requests'] === true && values['no-sign-requests'] === true) return { usageError: 'give --sign-requests or --no-sign-requests, not both' };
        if (values['allow-idp-initiated'] === true && values['no-allow-idp-initiated'] === true) {
          return { usageError: 'give --allow-idp-initiated or --no-allow-idp-initiated, not both' };
        }
        const services = await context.services();
        const current = await services.saml.get();
        // An option not given keeps the stored value (a certificate rollover must not clear the
        // login attribute or drop the SP key); an empty value clears an optional setting.
        const keyFile = (file: string | undefined, option: string): string | null | undefined =>
          file === undefined ? undefined : file === '' ? null : readFile(file, option);
        const switched = (on: boolean | undefined, off: boolean | undefined): boolean | undefined => (on === true ? true : off === true ? false : undefined);
        const given: SettingsGiven = {
          applicationId: values['application-id'],
          providerName: values['provider-name'],
          userLoginAttribute: values['login-attribute'],
          userNameAttribute: values['name-attribute'],
          userEmailAttribute: values['email-attribute'],
          groupAttribute: values['group-attribute'],
          spCertificate: keyFile(values['sp-certificate'], '--sp-certificate'),
          spPrivateKey: keyFile(values['sp-private-key'], '--sp-private-key'),
          signRequests: switched(values['sign-requests'], values['no-sign-requests']),
          allowIdpInitiated: switched(values['allow-idp-initiated'], values['no-allow-idp-initiated']),
        };
        const settings = Object.fromEntries(
          SETTING_KEYS.map((key) => [key, given[key] !== undefined ? given[key] : current?.[key]]),
        ) as SettingsGiven;
        const spKeys = spKeysGiven(values, current, given, keyFile);
        if (typeof spKeys === 'object' && 'usageError' in spKeys) return spKeys;
        const certificateFiles = values['idp-certificate'] ?? [];
        const added = values['add-idp-certificate'] ?? [];
        const removed = values['remove-idp-certificate'] ?? [];
        const entityId = values['idp-entity-id'];
        const ssoUrl = values['idp-sso-url'];
        const stepwise = added.length > 0 || removed.length > 0;
        const direct = entityId !== undefined || ssoUrl !== undefined || certificateFiles.length > 0 || stepwise;
        if (stepwise && certificateFiles.length > 0) return { usageError: '--idp-certificate replaces the whole list: give it, or --add-idp-certificate/--remove-idp-certificate, not both' };
        if (stepwise && current === undefined) return { usageError: '--add-idp-certificate and --remove-idp-certificate change the stored certificates, and SAML is not configured yet: give --idp-certificate' };
        let input: SamlConfigInput;
        let labels: Record<SamlIssue['field'], string>;
        if (values['idp-metadata'] !== undefined) {
          if (direct) return { usageError: 'give either --idp-metadata or the --idp-* options, not both' };
          const file = values['idp-metadata'];
          const parsed = parseIdpMetadata(readFile(file, '--idp-metadata'));
          if (!parsed.ok) throw new DirectoryError('invalid', `SAML configuration refused: ${file}: ${parsed.message}.`, 'metadata');
          for (const note of parsed.leftOut) context.err(`warning: ${file}: ${note}`);
          input = { ...parsed.input, ...settings, ...spKeys };
          labels = METADATA_LABELS;
        } else {
          if (current === undefined && (entityId === undefined || ssoUrl === undefined || certificateFiles.length === 0)) {
            return { usageError: 'give --idp-entity-id, --idp-sso-url and --idp-certificate, or --idp-metadata' };
          }
          const certificatesIn = (file: string, option: string): string[] => {
            const found = splitPemCertificates(readFile(file, option));
            if (found.length === 0) throw new DirectoryError('invalid', `SAML configuration refused: ${option} ${file} holds no certificate.`, 'certificates');
            return found;
          };
          let certificates = certificateFiles.length > 0 ? certificateFiles.flatMap((file) => certificatesIn(file, '--idp-certificate')) : (current?.certificates ?? []);
          if (stepwise) {
            const removedNamed = removed.map((name) => ({ name, certificates: asSha256Fingerprint(name) !== undefined ? [] : certificatesIn(name, '--remove-idp-certificate') }));
            const changed = stepIdpCertificates(certificates, added.flatMap((file) => certificatesIn(file, '--add-idp-certificate')), removedNamed);
            if (!changed.ok) {
              if (changed.step === 'add') return { usageError: `--add-idp-certificate: ${changed.message}` };
              return { usageError: `--remove-idp-certificate "${changed.name ?? ''}": ${changed.message} (\`roster saml show\` lists them)` };
            }
            certificates = changed.certificates;
          }
          input = {
            providerId: entityId ?? current?.providerId ?? '',
            loginUrl: ssoUrl ?? current?.loginUrl ?? '',
            certificates,
            ...settings,
            ...spKeys,
          };
          labels = FLAG_LABELS;
        }

        // Made from `current`: a change stored since (a rollover step in the console) is not overwritten.
        const result = await services.saml.configure(input, context.actor, { basedOn: current });
        for (const warning of result.warnings) context.err(`warning: ${describeIssue(warning, labels)}`);
        if (!result.ok) {
          const lines = result.errors.map((issue) => `  ${describeIssue(issue, labels)}`);
          throw new DirectoryError('invalid', ['SAML configuration refused:', ...lines].join('\n'), result.errors[0]?.field);
        }
        if (current !== undefined) {
          const { changed, kept } = compareConfigs(current, result.config);
          context.out(`Changed: ${changed.length === 0 ? 'nothing' : changed.join(', ')}.`);
          if (kept.length > 0) context.out(`Kept as stored: ${kept.join(', ')}.`);
        }
        context.out('SAML configured.');
        printConfig(context, result.config);
        return undefined;
      },
    },
    show: {
      summary: 'print the stored configuration and certificate expiry dates',
      usage: 'Usage: roster saml show\n\nPrints the identity provider, with each certificate\'s subject and expiry date.',
      async run(args, context) {
        parseArgs({ args, options: {} });
        const config = await (await context.services()).saml.get();
        if (config === undefined) {
          context.out('SAML is not configured. See `roster saml configure --help`.');
          return undefined;
        }
        printConfig(context, config);
        return undefined;
      },
    },
  },
};

type ConfigureValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/**
 * The SP key pairs the rollover options ask for (the domain's rollSpKeys over the stored
 * configuration), {} when none is given, or a usage error. A name that is not a SHA-256
 * fingerprint is a PEM file.
 */
function spKeysGiven(
  values: ConfigureValues,
  current: SamlConfig | undefined,
  given: { readonly spCertificate: string | null | undefined; readonly spPrivateKey: string | null | undefined },
  keyFile: (file: string | undefined, option: string) => string | null | undefined,
): Partial<SamlConfigInput> | { usageError: string } {
  const text = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const addCertificate = text('add-sp-certificate');
  const addKey = text('add-sp-private-key');
  const use = text('use-sp-certificate');
  const remove = Array.isArray(values['remove-sp-certificate']) ? values['remove-sp-certificate'] : [];
  // No rollover option: the stored additional pairs are kept, as every setting not given is.
  if (addCertificate === undefined && addKey === undefined && use === undefined && remove.length === 0) return { spAdditionalKeyPairs: current?.spAdditionalKeyPairs ?? [] };
  if ((addCertificate === undefined) !== (addKey === undefined)) return { usageError: 'give --add-sp-certificate and --add-sp-private-key together: the next SP key pair needs both' };
  if (given.spCertificate !== undefined || given.spPrivateKey !== undefined) {
    return { usageError: '--sp-certificate and --sp-private-key replace the current SP key pair: give them, or --add-sp-certificate/--use-sp-certificate/--remove-sp-certificate, not both' };
  }
  if (current === undefined) return { usageError: '--add-sp-certificate, --use-sp-certificate and --remove-sp-certificate change the stored SP key pairs, and SAML is not configured yet' };
  const named = (name: string, option: string): string => asSha256Fingerprint(name) ?? keyFile(name, option) ?? '';
  const rolled = rollSpKeys(current, {
    ...(addCertificate !== undefined && addKey !== undefined ? { add: { certificate: keyFile(addCertificate, '--add-sp-certificate') ?? '', privateKey: keyFile(addKey, '--add-sp-private-key') ?? '' } } : {}),
    ...(use !== undefined ? { use: named(use, '--use-sp-certificate') } : {}),
    remove: remove.map((name) => named(name, '--remove-sp-certificate')),
  });
  if (rolled.ok) return rolled.keys;
  if (rolled.step === 'add') return { usageError: `--add-sp-certificate: ${rolled.message}` };
  const option = rolled.step === 'use' ? '--use-sp-certificate' : '--remove-sp-certificate';
  const name = rolled.step === 'use' ? use : remove.find((candidate) => named(candidate, option) === rolled.name);
  const hint = rolled.message.endsWith('make the next one current first') ? ' (--use-sp-certificate)' : rolled.message.startsWith('no SP key pair') ? ' (`roster saml show` lists them)' : '';
  return { usageError: `${option} "${name ?? rolled.name ?? ''}": ${rolled.message}${hint}` };
}

/** The settings besides the IdP's own (entity ID, sign-in URL, certificates) that options set. */
const SETTING_KEYS = [
  'applicationId',
  'providerName',
  'userLoginAttribute',
  'userNameAttribute',
  'userEmailAttribute',
  'groupAttribute',
  'spCertificate',
  'spPrivateKey',
  'signRequests',
  'allowIdpInitiated',
] as const;
type SettingsGiven = { [K in (typeof SETTING_KEYS)[number]]: SamlConfig[K] | undefined };

/** How `saml configure` names each stored setting when it says what it changed or kept. */
const SETTING_NAMES: ReadonlyArray<[string, (config: SamlConfig) => unknown]> = [
  ['IdP entity ID', (c) => c.providerId],
  ['IdP sign-in URL', (c) => c.loginUrl],
  ['IdP certificates', (c) => c.certificates.join('\n')],
  ['application ID', (c) => c.applicationId],
  ['provider name', (c) => c.providerName],
  ['login attribute', (c) => c.userLoginAttribute],
  ['name attribute', (c) => c.userNameAttribute],
  ['email attribute', (c) => c.userEmailAttribute],
  ['group attribute', (c) => c.groupAttribute],
  ['SP key pair', (c) => (c.spCertificate === null ? null : `${c.spCertificate}\n${c.spPrivateKey ?? ''}`)],
  ['additional SP key pairs', (c) => (c.spAdditionalKeyPairs.length === 0 ? null : c.spAdditionalKeyPairs.map((pair) => pair.certificate).join('\n'))],
  ['sign requests', (c) => c.signRequests],
  ['IdP-initiated sign-in', (c) => c.allowIdpInitiated],
];

/** What a re-run changed, and which set values it kept (unset ones are not worth a mention). */
function compareConfigs(before: SamlConfig, after: SamlConfig): { changed: string[]; kept: string[] } {
  const changed: string[] = [];
  const kept: string[] = [];
  for (const [name, read] of SETTING_NAMES) {
    const old = read(before);
    if (old !== read(after)) changed.push(name);
    else if (old !== null && old !== false) kept.push(name);
  }
  return { changed, kept };
}

function printConfig(context: CliContext, config: SamlConfig): void {
  const unset = (value: string | null, fallback: string): string => value ?? fallback;
  context.out(`Provider name:    ${config.providerName}`);
  context.out(`Application ID:   ${unset(config.applicationId, `${context.config.baseUrl}/saml/metadata`)}`);
  context.out(`ACS URL:          ${context.config.baseUrl}/saml/acs`);
  context.out(`IdP entity ID:    ${config.providerId}`);
  context.out(`IdP sign-in URL:  ${config.loginUrl}`);
  context.out(`Login attribute:  ${unset(config.userLoginAttribute, '(NameID)')}`);
  context.out(`Name attribute:   ${unset(config.userNameAttribute, '(the login)')}`);
  context.out(`Email attribute:  ${unset(config.userEmailAttribute, '(none)')}`);
  context.out(`Group attribute:  ${unset(config.groupAttribute, '(none)')}`);
  context.out(`SP key pair:      ${config.spCertificate === null ? '(none)' : describeCertificate(config.spCertificate).subject}`);
  context.out(`Sign requests:    ${config.signRequests ? 'yes' : 'no'}`);
  context.out(`IdP-initiated:    ${config.allowIdpInitiated ? 'allowed' : 'refused'}`);
  config.certificates.forEach((pem, index) => {
    const info = describeCertificate(pem);
    const remaining = Date.parse(info.validTo) - Date.now();
    const expired = remaining <= 0 ? ' (EXPIRED)' : remaining < 30 * 24 * 60 * 60 * 1000 ? ' (expires within 30 days)' : '';
    context.out(`Certificate ${index + 1}:    ${info.subject}`);
    context.out(`  expires:        ${info.validTo}${expired}`);
    context.out(`  SHA-256:        ${info.fingerprint256}`);
  });
  // The SP key pairs' certificates, named by the SHA-256 that --use-sp-certificate and
  // --remove-sp-certificate accept.
  [config.spCertificate, ...config.spAdditionalKeyPairs.map((pair) => pair.certificate)].forEach((pem, index) => {
    if (pem === null) return;
    const info = describeCertificate(pem);
    context.out(`SP certificate ${index + 1}: ${info.subject}${index === 0 ? ' (current: signs requests, decrypts)' : ' (decrypts until removed)'}`);
    context.out(`  expires:        ${info.validTo}`);
    context.out(`  SHA-256:        ${info.fingerprint256}`);
  });
}

function describeIssue(issue: SamlIssue, labels: Record<SamlIssue['field'], string>): string {
  // Numbered as `saml show` numbers the SP certificates (the current one is 1).
  if (issue.field === 'spAdditionalKeyPairs' && issue.index !== undefined) return `SP certificate ${issue.index + 2}: ${issue.message}`;
  const which = issue.index === undefined ? '' : ` #${issue.index + 1}`;
  return `${labels[issue.field]}${which}: ${issue.message}`;
}

function readFile(path: string, option: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
    throw new DirectoryError('invalid', `Cannot read the ${option} file "${path}" (${reason}).`);
  }
}
