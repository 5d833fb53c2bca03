/**
 * The public surface of SCIM filtering: parse (RFC 7644 §3.4.2.2) and evaluate in memory.
 * The SQL compiler lives in store/filter-sql.ts.
 */
export type { AttributePath, CompareOperator, Filter, FilterValue, ParseResult, PatchPath } from './ast.ts';
export { parseFilter, MAX_DEPTH, MAX_SCANNING_COMPARISONS } from './parser.ts';
export { MAX_INPUT_LENGTH } from './lexer.ts';
export { evaluateFilter, comparisonProblem } from './evaluate.ts';
export { normaliseDateTime } from '../date-time.ts';
