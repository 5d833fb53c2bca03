/**
 * The character rules every name a person reads shares (logins, SCIM userNames, group names,
 * ROSTER_ADMIN_GROUP): no control characters, and nothing invisible or direction-changing that
 * would let one name pass for another on a screen. A group name is the sharper case: the
 * administrators' group is found by its name, so `roster-administrators` followed by a
 * zero-width space, or spelled backwards under a right-to-left override, must not exist beside it.
 */
import { hasControlCharacter, hasInvisibleCharacter } from '../text.ts';

/**
 * Why a name with a control character (a tab, a newline, an escape) is refused everywhere: no
 * person types one, and it would forge lines of a listing or a log read by a person.
 */
export const CONTROL_CHARACTER_RULE = 'must not contain control characters (a tab, a newline, an escape)';

/** Why a name with an invisible or direction-changing character is refused everywhere. */
export const INVISIBLE_CHARACTER_RULE = 'must not contain invisible or text-direction characters (such as a zero-width space or a right-to-left override), which would make it look like another name';

/** Whether `text` begins or ends with white space, as String.prototype.trim sees it (what SAML sign-in trims). */
export function hasSurroundingSpace(text: string): boolean {
  return text.trim() !== text;
}

/** A group name's greatest length, the admin API's and the database's. */
export const MAX_GROUP_NAME = 255;

/**
 * Why a group name beginning or ending with white space is refused: SAML sign-in trims the group
 * names the identity provider sends, so it would create a second group that looks the same.
 */
export const GROUP_SURROUNDING_SPACE_RULE = 'must not begin or end with white space (a name that differs only by spaces looks like another group)';

/**
 * What is wrong with a new group name by the rules of the admin API, the CLI, the console and
 * just-in-time sign-in, in the words of their refusals; undefined when it is a valid name.
 * SCIM applies the character rules only (groupNameCharacterProblem): the identity provider
 * owns its groups' spelling.
 */
export function groupNameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'must not be blank';
  if (name.length > MAX_GROUP_NAME) return `size must be between 1 and ${MAX_GROUP_NAME}`;
  return groupNameCharacterProblem(name) ?? (hasSurroundingSpace(name) ? GROUP_SURROUNDING_SPACE_RULE : undefined);
}

/** The character rules alone (control, invisible, direction-changing), shared with SCIM's displayName. */
export function groupNameCharacterProblem(name: string): string | undefined {
  if (hasControlCharacter(name)) return CONTROL_CHARACTER_RULE;
  if (hasInvisibleCharacter(name)) return INVISIBLE_CHARACTER_RULE;
  return undefined;
}
