/**
 * The character rules every name a person reads shares (logins, SCIM userNames, group names,
 * ROSTER_ADMIN_GROUP): no control characters, and nothing invisible or direction-changing that
 * would let one name pass for another on a screen. A group name is the sharper case: the
 * administrators' group is found by its name, so `roster-administrators` followed by a
 * zero-width space, or spelled backwards under a right-to-left override, must not exist beside it.
 */
import { hasControlCharacter, hasDirectionControl, hasInvisibleCharacter } from '../text.ts';

/**
 * Why a name with a control character (a tab, a newline, an escape) is refused everywhere: no
 * person types one, and it would forge lines of a listing or a log read by a person.
 */
export const CONTROL_CHARACTER_RULE = 'must not contain control characters (a tab, a newline, an escape)';

/** Why a name with an invisible or direction-changing character is refused everywhere. */
export const DIRECTION_CONTROL_RULE = 'must not contain text-direction controls (such as a right-to-left override), which reorder how the text reads';

/**
 * What is wrong with a free text an administrator types beside a name (a user's display name, a
 * group's description), in the words of its refusals: a direction control, which would reorder
 * the sentences the console shows it in (a confirmation read backwards). Other characters are
 * the writer's; the identity provider's texts are its own (the console isolates them).
 */
export function displayTextProblem(text: string): string | undefined {
  return hasDirectionControl(text) ? DIRECTION_CONTROL_RULE : undefined;
}

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
  return groupNameCharacterProblem(name) ?? (hasSurroundingSpace(name) ? GROUP_SURROUNDING_SPACE_RULE : groupLookAlikeProblem(name));
}

/**
 * Spaces drawn like an ordinary one in Latin text but other characters: the no-break spaces
 * (U+00A0, U+202F), the typographic spaces (U+2000–U+200A), U+205F and the Ogham space mark.
 * The ideographic space (U+3000) is not among them: it is visibly wide, and Japanese input
 * methods type it.
 */
const LOOK_ALIKE_SPACE = /[\u00a0\u1680\u2000-\u200a\u202f\u205f]/u;

/** The scripts whose letters are drawn alike (Latin `a`, Cyrillic `а`, Greek `α`-like `ο`/`o`). */
const LOOK_ALIKE_SCRIPTS = [/\p{Script=Latin}/u, /\p{Script=Cyrillic}/u, /\p{Script=Greek}/u];

/**
 * What makes a new group name look like another one once drawn, beyond the character rules:
 * a space that is not U+0020 (`roster\u00A0administrators`), or one word mixing Latin, Cyrillic
 * and Greek letters (`roster-аdministrators` with a Cyrillic `а`), which no language spells.
 * Applied where Roster names a group (the admin API, the CLI, the console, just-in-time sign-in,
 * ROSTER_ADMIN_GROUP), not to SCIM, whose identity provider owns its groups' spelling.
 */
export function groupLookAlikeProblem(name: string): string | undefined {
  const space = LOOK_ALIKE_SPACE.exec(name)?.[0];
  if (space !== undefined) return `must use ordinary spaces: it holds U+${space.codePointAt(0)?.toString(16).toUpperCase().padStart(4, '0')}, drawn like a space but another character, which would make it look like another name`;
  return mixedScriptProblem(name);
}

/**
 * Why a name with one word mixing Latin, Cyrillic or Greek letters is refused (`аdmin` with a
 * Cyrillic `а`), or undefined. Logins an administrator types follow it too (accounts.ts); words
 * of different scripts side by side (`john@пример.рф`) are fine.
 */
export function mixedScriptProblem(name: string): string | undefined {
  const mixed = (name.match(/[\p{L}\p{M}]+/gu) ?? []).find((word) => LOOK_ALIKE_SCRIPTS.filter((script) => script.test(word)).length > 1);
  return mixed === undefined ? undefined : `must not mix Latin, Cyrillic or Greek letters in one word ("${mixed}"), whose letters look alike: it would look like another name`;
}

/** The character rules alone (control, invisible, direction-changing), shared with SCIM's displayName. */
export function groupNameCharacterProblem(name: string): string | undefined {
  if (hasControlCharacter(name)) return CONTROL_CHARACTER_RULE;
  if (hasInvisibleCharacter(name)) return INVISIBLE_CHARACTER_RULE;
  return undefined;
}
