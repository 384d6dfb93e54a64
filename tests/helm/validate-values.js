#!/usr/bin/env node
// Validates a chart's values the way `helm install -f OVERLAY` would see them:
// the chart's values.yaml with each overlay merged over it (maps merge key by
// key, a null removes a key, anything else replaces), then checked against
// values.schema.json (JSON Schema draft-07) with ajv.
//
//   node validate-values.js SCHEMA VALUES [OVERLAY...]
//
// Exit 0: valid. Exit 1: invalid; every error is printed on one line as
//   keyword=<schema keyword> path=<JSON pointer of the value> <message> <params>
// so that a caller can grep for the reason it expects. Exit 2: the files
// could not be read or parsed.
'use strict';

const fs = require('fs');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const { loadValues } = require('./values');

function usage(message) {
  process.stderr.write(`validate-values: ${message}\n` +
                       'usage: node validate-values.js SCHEMA VALUES [OVERLAY...]\n');
  process.exit(2);
}

function main(argv) {
  if (argv.length < 2) usage('need a schema and a values file');
  const [schemaPath, valuesPath, ...overlays] = argv;
  let schema;
  try {
    schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
  } catch (e) {
    usage(`cannot load the schema ${schemaPath}: ${e.message}`);
  }
  // strict: a keyword ajv does not know, or a type a keyword cannot apply to,
  // is an error in the schema itself, not something silently ignored.
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  addFormats(ajv);
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (e) {
    usage(`the schema ${schemaPath} is not valid draft-07 for ajv: ${e.message}`);
  }
  let values;
  try {
    values = loadValues(valuesPath, overlays);
  } catch (e) {
    usage(e.message);
  }
  if (validate(values)) {
    process.stdout.write(`valid: ${[valuesPath, ...overlays].join(' + ')}\n`);
    return 0;
  }
  process.stdout.write(`invalid: ${[valuesPath, ...overlays].join(' + ')}\n`);
  for (const e of validate.errors) {
    process.stdout.write(`  keyword=${e.keyword} path=${e.instancePath || '/'} ${e.message} ` +
                         `${JSON.stringify(e.params)}\n`);
  }
  return 1;
}

process.exit(main(process.argv.slice(2)));
