/** `roster secrets …`: secrets at rest (ROSTER_SECRET_KEY) and their key rotation. */
import { parseArgs } from './options.ts';
import { parseKey } from '../config.ts';
import { DirectoryError } from '../errors.ts';
import { keyIdOf, SecretsError } from '../store/secret-box.ts';
import { rotateSecretKey, sealSecrets } from '../directory/secret-key.ts';
import { secretsStatus } from '../store/secrets.ts';
import { openElsewhere } from '../store/sqlite.ts';
import type { CommandGroup } from './command.ts';
import type { DatabaseLocation } from '../store/index.ts';

/** Whether another process has the SQLite database open; asked before this process opens the file, whose own connection would hide the others. */
function sqliteInUse(database: DatabaseLocation): boolean {
  return database.kind === 'sqlite' && database.path !== ':memory:' && openElsewhere(database.path);
}

/** The `secrets` command group. */
export const secretsCommands: CommandGroup = {
  name: 'secrets',
  summary: 'secrets at rest: their key (ROSTER_SECRET_KEY), sealing them, and the key\'s rotation',
  commands: {
    status: {
      summary: 'say whether secrets are sealed, and with which key (changes nothing)',
      usage: [
        'Usage: roster secrets status',
        '',
        'Prints the id of the key that sealed the database\'s secrets (8 hex digits, never the key),',
        'how many secret values are sealed or still plaintext, and how ROSTER_SECRET_KEY compares:',
        'the key that sealed them, none or another key (then Roster refuses to start; exit 1 for a',
        'wrong key), or a key not used yet: the secrets are sealed with it once no Roster process',
        'without it uses the database (at the next start of Roster, or with `roster secrets seal`);',
        'it names the connections of those that lack it. It only reads: nothing is sealed or changed.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const sqliteOpenElsewhere = sqliteInUse(context.config.database);
        const services = await context.services({ bootstrap: false, prepareSecrets: false });
        const status = await secretsStatus(services.store, { sqliteOpenElsewhere });
        const configured = context.config.secretKey === undefined ? undefined : keyIdOf(context.config.secretKey);
        const values = (count: number) => `${count} value${count === 1 ? '' : 's'}`;
        const waiting = (what: string) =>
          status.waitingFor === undefined
            ? `the next start of Roster (roster serve, or any roster command but this one) ${what}.`
            : `Roster processes without it use the database (${status.waitingFor}): once every instance has it, the last to start ${what}, or run \`roster secrets seal\`.`;
        context.out(status.keyId === undefined ? 'Secrets are not encrypted at rest.' : `Secrets are sealed with key ${status.keyId} (AES-256-GCM).`);
        context.out(`${status.sealed} sealed, ${status.plaintext} plaintext`);
        switch (status.key) {
          case 'none':
            context.out('ROSTER_SECRET_KEY is not set.');
            break;
          case 'not-yet-used':
            context.out(`ROSTER_SECRET_KEY is key ${configured ?? ''}: ${waiting(`seals the ${values(status.plaintext)} in plaintext with it`)}`);
            break;
          case 'previous':
            context.out(`ROSTER_SECRET_KEY is key ${configured ?? ''}, and ROSTER_PREVIOUS_SECRET_KEY the key that sealed them: ${waiting(`re-seals the ${values(status.sealed + status.plaintext)} with key ${configured ?? ''}`)}`);
            break;
          case 'matches':
            context.out(`ROSTER_SECRET_KEY is that key.${status.plaintext > 0 ? ` The next start of Roster, or \`roster secrets seal\`, seals the ${values(status.plaintext)} in plaintext.` : ''}`);
            // Left over from a rolling rotation: only ROSTER_PREVIOUS_SECRET_KEY opens them (else the status is a refusal).
            for (const earlier of status.earlierKeys ?? []) {
              context.out(`${values(earlier.count)} still sealed with key ${earlier.keyId} (ROSTER_PREVIOUS_SECRET_KEY): keep it set until \`roster secrets seal\`, or the next start of Roster, re-seals ${earlier.count === 1 ? 'it' : 'them'} with key ${configured ?? ''}; an instance without it does not start until then.`);
            }
            break;
          case 'missing':
            context.out(`ROSTER_SECRET_KEY is not set: Roster does not start without key ${status.keyId ?? ''}.`);
            break;
          case 'wrong':
            // The same refusal as start-up's, and its exit status, after the report.
            throw new SecretsError(status.refusal ?? 'ROSTER_SECRET_KEY is not the key that sealed the database\'s secrets.');
        }
        return undefined;
      },
    },
    seal: {
      summary: 'seal every secret with ROSTER_SECRET_KEY once every instance has it (a rolling restart)',
      usage: [
        'Usage: ROSTER_SECRET_KEY=<key> roster secrets seal',
        '',
        'Seals every secret stored in plaintext with ROSTER_SECRET_KEY, and re-seals those still',
        'sealed with ROSTER_PREVIOUS_SECRET_KEY (a rolling rotation), in one transaction: on any error',
        'nothing changes. Until then an instance with the key reads and writes them as they are, so',
        'that instances not restarted with the key yet keep working; the start of the last instance',
        'given the key seals them too, when no Roster process without it uses the database then.',
        'Refused (exit 1, nothing changed) while one does: on PostgreSQL, a connection of a Roster',
        'process without this key (or of a version before this command); on SQLite, any other',
        'process with the file open. Recorded in the audit log as secrets.sealed (key ids and counts).',
        'Prints the key id alone on the last line. Running it again changes nothing.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        if (context.config.secretKey === undefined) return { usageError: 'ROSTER_SECRET_KEY must be set to the key to seal the secrets with' };
        const sqliteOpenElsewhere = sqliteInUse(context.config.database);
        // The store checks ROSTER_SECRET_KEY against the database; this command does the sealing, and reports it.
        const services = await context.services({ bootstrap: false, prepareSecrets: false });
        const result = await sealSecrets(services.store, context.actor, { sqliteOpenElsewhere });
        const values = (count: number) => `${count} secret${count === 1 ? '' : 's'}`;
        if (result.sealed === 0 && result.resealed === 0 && result.fromKeyId === result.keyId) context.err(`Every secret is already sealed with key ${result.keyId}: nothing changed.`);
        else context.err(`Sealed ${values(result.sealed)} in plaintext${result.resealed > 0 ? ` and re-sealed ${values(result.resealed)} ${result.fromKeyId === result.keyId ? 'left under an earlier key' : `from key ${result.fromKeyId ?? ''}`}` : ''} with key ${result.keyId}.`);
        context.out(result.keyId);
        return undefined;
      },
    },
    'rotate-key': {
      summary: 're-encrypt every secret with ROSTER_NEW_SECRET_KEY, in one transaction',
      usage: [
        'Usage: ROSTER_SECRET_KEY=<current key> ROSTER_NEW_SECRET_KEY=<new key> roster secrets rotate-key',
        '',
        'Opens every secret stored in the database with the current key (ROSTER_SECRET_KEY) and',
        'seals it again with the new one (ROSTER_NEW_SECRET_KEY), in one transaction: on any error',
        'nothing changes. Without ROSTER_SECRET_KEY, plaintext secrets are sealed with the new key.',
        'Stop every Roster instance first, and start them again with ROSTER_SECRET_KEY set to the',
        'new key: an instance still running with the old key would fail on the re-sealed secrets,',
        'so the command refuses (exit 1, nothing changed) while another Roster process uses the',
        'database. Recorded in the audit log as secrets.key_rotated (key ids only). To rotate without',
        'stopping them, use ROSTER_PREVIOUS_SECRET_KEY and `roster secrets seal` (docs/operations.md).',
        '',
        'Keys are 32 random bytes, as 64 hex digits or base64: openssl rand -base64 32',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const newKey = parseKey(process.env, 'ROSTER_NEW_SECRET_KEY');
        if (newKey === undefined) return { usageError: 'ROSTER_NEW_SECRET_KEY must be set to the new key' };
        const oldKey = context.config.secretKey;
        if (oldKey !== undefined && oldKey.equals(newKey)) return { usageError: 'ROSTER_NEW_SECRET_KEY is the same key as ROSTER_SECRET_KEY' };
        const sqliteOpenElsewhere = sqliteInUse(context.config.database);
        // Opening the store checks ROSTER_SECRET_KEY against the database first.
        const services = await context.services({ bootstrap: false });
        const result = await rotateSecretKey(services.store, newKey, context.actor, { sqliteOpenElsewhere });
        if (result.keyId !== keyIdOf(newKey)) throw new DirectoryError('conflict', 'The new key id does not match ROSTER_NEW_SECRET_KEY.');
        context.err(`Re-sealed ${result.resealed} secret${result.resealed === 1 ? '' : 's'}${oldKey !== undefined ? ` from key ${keyIdOf(oldKey)}` : ''} with key ${result.keyId}.`);
        context.err('Start Roster with ROSTER_SECRET_KEY set to the new key (the value of ROSTER_NEW_SECRET_KEY).');
        context.out(result.keyId);
        return undefined;
      },
    },
  },
};
