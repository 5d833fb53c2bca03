/**
 * The rules a login (the admin API's `login`, SCIM's `userName`, the login a SAML assertion
 * carries) must follow wherever it enters Roster, so that every way in accepts the same logins
 * and says the same thing about the ones it refuses. The character rules are every name's
 * (name-rules.ts).
 */
import { hasSurroundingSpace, INVISIBLE_CHARACTER_RULE } from './name-rules.ts';
import { hasInvisibleCharacter } from '../text.ts';

/** A login's length, as the admin API has always bounded it. */
export const LOGIN_LENGTH = { min: 2, max: 255 } as const;

/**
 * Why a login that begins or ends with white space is refused: SAML sign-in trims the login the
 * identity provider sends, so the stored one would never match and the user never sign in.
 */
export const SURROUNDING_SPACE_RULE = 'must not begin or end with white space (SAML sign-in trims the login the identity provider sends, so this user could never sign in)';

/**
 * What is wrong with `login` by the admin API's rules (length, surrounding white space, spaces,
 * control or invisible characters), in the words of its refusals; undefined when it is a valid login.
 * Just-in-time sign-in creates users by the same rules.
 */
export function loginProblem(login: string): string | undefined {
  if (login.length < LOGIN_LENGTH.min || login.length > LOGIN_LENGTH.max) return `size must be between ${LOGIN_LENGTH.min} and ${LOGIN_LENGTH.max}`;
  if (hasSurroundingSpace(login)) return SURROUNDING_SPACE_RULE;
  if (/[\s\p{Cc}]/u.test(login)) return 'must not contain spaces or control characters';
  if (hasInvisibleCharacter(login)) return INVISIBLE_CHARACTER_RULE;
  return undefined;
}

/** What separates a released login from the name it had (`jane.doe~released-4f1c…`). */
export const RELEASED_LOGIN_MARK = '~released-';

/**
 * The login an account is moved to when another user takes its name: `login`, then the mark,
 * then `tag` (part of its internal id), so that it cannot meet another account's name. It is a
 * valid login by loginProblem when `login` was: the mark has no space, and the name is cut
 * (whole characters) so that the whole fits LOGIN_LENGTH.max.
 */
export function releasedLogin(login: string, tag: string): string {
  const suffix = `${RELEASED_LOGIN_MARK}${tag}`;
  const characters = Array.from(login);
  let length = login.length;
  while (length + suffix.length > LOGIN_LENGTH.max && characters.length > 0) length -= characters.pop()?.length ?? 0;
  return `${characters.join('')}${suffix}`;
}

/** What an anonymized account's login starts with (`anonymized-9f86d081884c7d65…`). */
export const ANONYMIZED_LOGIN_PREFIX = 'anonymized-';

/**
 * The login an account takes when its personal data is deleted: the prefix and its internal id,
 * so that it names nobody, is the same however often the deletion is asked for, and frees the
 * old login for a new account (an administrator creating that login again makes a new user).
 */
export function anonymizedLogin(userId: string): string {
  return `${ANONYMIZED_LOGIN_PREFIX}${userId.replace(/-/g, '')}`;
}

/**
 * Why an administrator may not type `login`: the logins of anonymized accounts are kept for them,
 * so that one can never be mistaken for a person's (or take the login an erasure will use).
 */
export function reservedLoginProblem(login: string): string | undefined {
  return login.toLowerCase().startsWith(ANONYMIZED_LOGIN_PREFIX) ? `must not start with "${ANONYMIZED_LOGIN_PREFIX}", which names accounts whose personal data was deleted` : undefined;
}

/** Whether the account's personal data was deleted (it holds anonymizedLogin). */
export function isAnonymized(user: { readonly id: string; readonly login: string }): boolean {
  return user.login === anonymizedLogin(user.id);
}
