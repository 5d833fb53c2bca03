/**
 * POST /saml/acs: the assertion consumer service (HTTP-POST binding). A response that fails
 * any check, or a person the provisioning mode does not let in, gets a page saying what
 * failed and an audit event with the reason; a valid one opens a session.
 */
import type { FastifyInstance } from 'fastify';
import { describeSamlFailure, type SamlAssertion, type SamlFailure } from '../../../auth/saml.ts';
import { identityOf, type SignInDecision, type SignInIdentity } from '../../../directory/sign-in.ts';
import type { Services } from '../../../services.ts';
import { SAML_BODY_LIMIT, VALIDATION_MARKER, auditSource, returnAddress, sendHtml, type ReturnTrust } from './common.ts';
import { refusalPage, validationPage, type ValidationRow } from './pages.ts';
import { sessionOrigin } from '../../client.ts';

/** Registers POST /saml/acs. */
export function acsRoute(app: FastifyInstance, services: Services, trust: ReturnTrust): void {
  app.post('/saml/acs', { bodyLimit: SAML_BODY_LIMIT }, async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const samlResponse = form['SAMLResponse'];
    if (typeof samlResponse !== 'string' || samlResponse === '') {
      return sendHtml(reply, 400, refusalPage('The request carries no SAMLResponse: sign-in responses come from the identity provider as a form post.'));
    }

    const result = await services.samlSp.validate(samlResponse, request.headers.cookie);
    if (!result.ok) {
      const message = describeSamlFailure(result.failure);
      if (result.returnTo === VALIDATION_MARKER) {
        return sendHtml(reply, 200, validationPage({ ok: false, message: `The response would be refused: ${message}` }, [{ label: 'Check failed', value: result.failure.code }], {}));
      }
      await services.signIn.recordRefusal(result.failure.code, message, auditSource(request.ip));
      request.log.info({ reason: result.failure.code }, 'SAML sign-in refused');
      request.server.metrics.signIn('saml', result.failure.code);
      return sendHtml(reply, refusalStatus(result.failure), refusalPage(message));
    }

    // Removed meanwhile: nobody signs in through SAML any more.
    if ((await services.saml.get()) === undefined) return sendHtml(reply, 403, refusalPage(describeSamlFailure({ code: 'not_configured' })));
    // Read by the configuration that checked it: a change stored since (another login attribute,
    // another identity provider) must not read an assertion it did not check.
    const identity = identityOf(result.config, result.assertion);
    if (result.assertion.returnTo === VALIDATION_MARKER) {
      const decision = await services.signIn.preview(identity);
      return sendHtml(reply, 200, validationReport(result.assertion, identity, decision));
    }

    // Where to go is settled before anything is written: the session opens only when the
    // answer that carries its cookie can be sent.
    const location = destination(result.assertion, form['RelayState'], trust);
    // The session opens in the sign-in's own transaction, which holds the provisioning switch:
    // SCIM turned on meanwhile, on any instance, comes wholly before it or wholly after.
    const outcome = await services.signIn.signIn(identity, { origin: sessionOrigin(request), endsBy: result.assertion.sessionEndsBy });
    if (!outcome.ok) {
      request.log.info({ reason: outcome.reason }, 'SAML sign-in refused');
      request.server.metrics.signIn('saml', outcome.reason);
      return sendHtml(reply, 403, refusalPage(outcome.message));
    }
    const { session } = outcome;
    request.server.metrics.signIn('saml', 'success');
    return reply
      .header('set-cookie', services.sessions.cookie(session.value, session.expiresAt))
      .header('cache-control', 'no-store')
      .redirect(location, 303);
  });
}

/** 413 for a response too large to read, 400 for XML refused unread, 403 for every other refusal. */
function refusalStatus(failure: SamlFailure): number {
  if (failure.code === 'too_large') return 413;
  if (failure.code === 'xml_declaration') return 400;
  return 403;
}

/**
 * Where to send the browser: the returnTo of our request, or for IdP-initiated sign-in a
 * RelayState that is a local path or on a trusted host (client.ts returnAddress); `/` otherwise. Encoded again here: a request stored by an earlier version
 * may hold a raw path.
 */
function destination(assertion: SamlAssertion, relayState: unknown, trust: ReturnTrust): string {
  if (assertion.returnTo !== null) return returnAddress(assertion.returnTo, trust) ?? '/';
  if (assertion.inResponseTo === null && typeof relayState === 'string') return returnAddress(relayState, trust) ?? '/';
  return '/';
}

function validationReport(assertion: SamlAssertion, identity: SignInIdentity, decision: SignInDecision): string {
  const rows: ValidationRow[] = [
    { label: 'Issuer', value: assertion.issuer },
    { label: 'NameID', value: `${assertion.nameId ?? '(none)'}${assertion.nameIdFormat === null ? '' : ` (${assertion.nameIdFormat})`}` },
    { label: 'Login', value: identity.login ?? '(missing)' },
    { label: 'Name', value: identity.name ?? '(none)' },
    { label: 'Email', value: identity.email ?? '(none)' },
    { label: 'Session ends', value: assertion.sessionEndsBy === null ? '(no SessionNotOnOrAfter: after Roster\'s own limits)' : `by ${assertion.sessionEndsBy.toISOString()} (the identity provider\'s SessionNotOnOrAfter, with the clock tolerance)` },
    { label: 'Groups', value: identity.groups === null ? '(group attribute not configured)' : identity.groups.join(', ') || '(none)' },
    { label: 'Roster user', value: decision.user === undefined ? (decision.ok ? 'would be created at sign-in' : 'none') : `${decision.user.login} (${decision.user.id})` },
  ];
  const verdict = decision.ok
    ? { ok: true, message: 'The response is valid and this person would be signed in.' }
    : { ok: false, message: `The response is valid, but sign-in would be refused (${decision.reason}): ${decision.message}` };
  return validationPage(verdict, rows, assertion.attributes);
}
