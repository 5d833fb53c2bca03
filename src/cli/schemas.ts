/**
 * `roster schemas …`: the extension schemas administrators declare for SCIM custom attributes.
 * Same service and rules as the admin API's /api/v2/scim-schemas.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from './options.ts';
import { DirectoryError } from '../errors.ts';
import type { DeclaredSchema } from '../scim/schemas.ts';
import type { CliContext, CommandGroup } from './command.ts';
import { tabbed } from './output.ts';

/** The positional argument of a command that takes exactly one. */
function single(args: string[], what: string): string | { usageError: string } {
  const { positionals } = parseArgs({ args, options: {}, allowPositionals: true });
  const [value, ...extra] = positionals;
  if (value === undefined) return { usageError: `the ${what} is required` };
  if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
  return value;
}

/** Reads and parses the definition file; a clear message when it cannot. */
function readDefinition(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DirectoryError('invalid', `Cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, 'file');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new DirectoryError('invalid', `${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`, 'file');
  }
}

function summary(schema: DeclaredSchema): string {
  const attributes = schema.attributes.map((attribute) => `${attribute.name} (${attribute.multiValued ? `${attribute.type}[]` : attribute.type})`).join(', ');
  return tabbed([schema.id, schema.extends, schema.name, attributes]);
}

async function list(args: string[], context: CliContext): Promise<undefined> {
  parseArgs({ args, options: {} });
  const schemas = await (await context.services()).scimSchemas.list();
  for (const schema of schemas) context.out(summary(schema));
  if (schemas.length === 0) context.err('No extension schema is declared. Declare one with `roster schemas add <file.json>`.');
  return undefined;
}

/** The `schemas` command group. */
export const schemaCommands: CommandGroup = {
  name: 'schemas',
  summary: 'declare SCIM extension schemas (custom attributes)',
  commands: {
    add: {
      summary: 'declare an extension schema from a JSON file',
      usage: [
        'Usage: roster schemas add <file.json>',
        '',
        'Declares an extension schema for SCIM: its attributes are then accepted, stored, returned,',
        'filtered, sorted and patched like the enterprise extension, and /Schemas and /ResourceTypes',
        'list it. The file holds the schema as /Schemas shows one (RFC 7643 §7) plus "extends":',
        '',
        '  {"id": "urn:ietf:params:scim:schemas:extension:acme:2.0:User", "name": "AcmeUser",',
        '   "extends": "User", "attributes": [{"name": "badge", "type": "string", "uniqueness": "server"}]}',
        '',
        'See docs/scim.md, "Custom attributes", for every characteristic Roster accepts.',
      ].join('\n'),
      async run(args, context) {
        const path = single(args, 'definition file');
        if (typeof path !== 'string') return path;
        const definition = readDefinition(path);
        const schema = await (await context.services()).scimSchemas.add(definition, context.actor);
        context.out(`Declared ${schema.id} (extends ${schema.extends}, ${schema.attributes.length} attribute${schema.attributes.length === 1 ? '' : 's'}).`);
        return undefined;
      },
    },
    list: {
      summary: 'list the declared extension schemas (URN, resource type, name, attributes)',
      usage: 'Usage: roster schemas list',
      run: list,
    },
    remove: {
      summary: 'remove a declared schema (refused while resources carry it, unless --force)',
      usage: [
        'Usage: roster schemas remove <urn> [--force]',
        '',
        'Removes a declared extension schema. While users or groups carry values of its attributes',
        'the removal is refused; --force deletes those values from every resource as well (each gets',
        'a new version, and the audit trail records how many changed).',
        '',
        'Options:',
        '  --force  also delete the values stored under the schema',
      ].join('\n'),
      async run(args, context) {
        const { values, positionals } = parseArgs({ args, options: { force: { type: 'boolean', default: false } }, allowPositionals: true });
        const [urn, ...extra] = positionals;
        if (urn === undefined) return { usageError: 'the schema URN is required' };
        if (extra.length > 0) return { usageError: `unexpected argument "${extra[0] ?? ''}"` };
        const { schema, resourcesChanged } = await (await context.services()).scimSchemas.remove(urn, { force: values.force }, context.actor);
        const changed = resourcesChanged > 0 ? `; its values were deleted from ${resourcesChanged} ${schema.extends === 'User' ? 'user' : 'group'}${resourcesChanged === 1 ? '' : 's'}` : '';
        context.out(`Removed ${schema.id}${changed}.`);
        return undefined;
      },
    },
  },
};
