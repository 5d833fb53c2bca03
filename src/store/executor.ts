import type { Kysely, Transaction } from 'kysely';
import type { Database } from './tables.ts';

/** Either the database or an open transaction: every query function accepts both. */
export type Executor = Kysely<Database> | Transaction<Database>;
