/** `roster secrets …`: secrets at rest (ROSTER_SECRET_KEY) and their key rotation. */
import { parseArgs } from './options.ts';
import { parseKey } from '../config.ts';
import { DirectoryError } from '../errors.ts';
import { keyIdOf, SecretsError } from '../store/secret-box.ts';
import { rotateSecretKey } from '../directory/secret-key.ts';
import { secretsStatus } from '../store/secrets.ts';
import { openElsewhere } from '../store/sqlite.ts';
import type { CommandGroup } from './command.ts';

/** The `secrets` command group. */
export const secretsCommands: CommandGroup = {
  name: 'secrets',
  summary: 'secrets at rest: their key (ROSTER_SECRET_KEY) and its rotation',
  commands: {
    status: {
      summary: 'say whether secrets are sealed, and with which key (changes nothing)',
      usage: [
        'Usage: roster secrets status',
        '',
        'Prints the id of the key that sealed the database\'s secrets (8 hex digits, never the key),',
        'how many secret values are sealed or still plaintext, and how ROSTER_SECRET_KEY compares:',
        'the key that sealed them, none or another key (then Roster refuses to start; exit 1 for a',
        'wrong key), or a key not used yet (the next start of Roster seals the plaintext with it).',
        'It only reads: nothing is sealed or changed.',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const services = await context.services({ bootstrap: false, prepareSecrets: false });
        const status = await secretsStatus(services.store);
        const configured = context.config.secretKey === undefined ? undefined : keyIdOf(context.config.secretKey);
        const values = (count: number) => `${count} value${count === 1 ? '' : 's'}`;
        context.out(status.keyId === undefined ? 'Secrets are not encrypted at rest.' : `Secrets are sealed with key ${status.keyId} (AES-256-GCM).`);
        context.out(`${status.sealed} sealed, ${status.plaintext} plaintext`);
        switch (status.key) {
          case 'none':
            context.out('ROSTER_SECRET_KEY is not set.');
            break;
          case 'not-yet-used':
            context.out(`ROSTER_SECRET_KEY is key ${configured ?? ''}: the next start of Roster (roster serve, or any roster command but this one) seals the ${values(status.plaintext)} in plaintext with it.`);
            break;
          case 'matches':
            context.out(`ROSTER_SECRET_KEY is that key.${status.plaintext > 0 ? ` The next start of Roster seals the ${values(status.plaintext)} in plaintext.` : ''}`);
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
        'database. Recorded in the audit log as secrets.key_rotated (key ids only).',
        '',
        'Keys are 32 random bytes, as 64 hex digits or base64: openssl rand -base64 32',
      ].join('\n'),
      async run(args, context) {
        parseArgs({ args, options: {} });
        const newKey = parseKey(process.env, 'ROSTER_NEW_SECRET_KEY');
        if (newKey === undefined) return { usageError: 'ROSTER_NEW_SECRET_KEY must be set to the new key' };
        const oldKey = context.config.secretKey;
        if (oldKey !== undefined && oldKey.equals(newKey)) return { usageError: 'ROSTER_NEW_SECRET_KEY is the same key as ROSTER_SECRET_KEY' };
        // Asked before this process opens the file, whose own connection would hide the others.
        const database = context.config.database;
        const sqliteOpenElsewhere = database.kind === 'sqlite' && database.path !== ':memory:' && openElsewhere(database.path);
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
