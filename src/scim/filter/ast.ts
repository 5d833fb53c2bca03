/**
 * The abstract syntax of SCIM filters and attribute paths (RFC 7644 §3.4.2.2 and §3.5.2).
 * Produced by the parser, consumed by the SQL compiler (store/filter-sql.ts), the in-memory
 * evaluator (used for PATCH value paths) and the PATCH engine.
 */

/**
 * A reference to an attribute, as written by the client.
 * `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` gives
 * `{ schema: 'urn:…:User', attribute: 'manager', subAttribute: 'value' }`.
 * Names keep the client's spelling: attribute names are case-insensitive (RFC 7643 §2.1),
 * so consumers compare them case-insensitively.
 */
export interface AttributePath {
  /** The schema URN prefix, when the client wrote one. */
  readonly schema?: string;
  readonly attribute: string;
  readonly subAttribute?: string;
}

/** Comparison operators of RFC 7644 §3.4.2.2, Table 3 (lower-cased whatever the client wrote). */
export type CompareOperator = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/** A JSON literal in a filter: string, number, boolean or null. */
export type FilterValue = string | number | boolean | null;

export type Filter =
  /** `userName eq "bjensen"` */
  | { readonly kind: 'compare'; readonly path: AttributePath; readonly op: CompareOperator; readonly value: FilterValue }
  /** `title pr` */
  | { readonly kind: 'present'; readonly path: AttributePath }
  | { readonly kind: 'and'; readonly left: Filter; readonly right: Filter }
  | { readonly kind: 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly kind: 'not'; readonly filter: Filter }
  /**
   * `emails[type eq "work" and value co "@example.com"]`: true when one element of the
   * multi-valued attribute matches `filter`. Paths inside `filter` name sub-attributes of
   * `path` (their `attribute` is the sub-attribute name, with no schema).
   */
  | { readonly kind: 'valuePath'; readonly path: AttributePath; readonly filter: Filter };

/**
 * A PATCH operation path (RFC 7644 §3.5.2): `attrPath`, or `valuePath [ "." subAttr ]`.
 * `emails[type eq "work"].value` gives `{ attribute: {attribute:'emails'}, filter, subAttribute: 'value' }`;
 * `name.givenName` gives `{ attribute: {attribute:'name', subAttribute:'givenName'} }`.
 */
export interface PatchPath {
  readonly attribute: AttributePath;
  /** The value filter in brackets, selecting elements of a multi-valued attribute. */
  readonly filter?: Filter;
  /** The sub-attribute after the brackets. */
  readonly subAttribute?: string;
}

/** The outcome of parsing: either the tree, or where and why the text was rejected. */
export type ParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: { readonly message: string; readonly position: number } };
