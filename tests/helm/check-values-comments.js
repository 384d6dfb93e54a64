#!/usr/bin/env node
// Every field of the chart's values.yaml has a comment: the line above its
// key is a comment, or the key's line ends with one. Items of lists are
// values, not fields, and need none.
//
//   node check-values-comments.js helm/youma/values.yaml
'use strict';

const fs = require('fs');

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node check-values-comments.js VALUES\n');
  process.exit(2);
}
const lines = fs.readFileSync(file, 'utf8').split('\n');
const undocumented = [];
const path = [];      // [{indent, key}] of the enclosing fields
let listIndent = -1;  // indentation of the list item we are inside, or -1
let fields = 0;
lines.forEach((line, i) => {
  if (/^\s*(#.*)?$/.test(line)) return;
  const indent = line.search(/\S/);
  if (listIndent >= 0 && indent > listIndent) return;  // inside a list item
  listIndent = -1;
  if (/^\s*- /.test(line)) {
    listIndent = indent;
    return;
  }
  const m = line.match(/^\s*([A-Za-z0-9_.\/-]+):(\s|$)/);
  if (!m) return;
  while (path.length > 0 && path[path.length - 1].indent >= indent) path.pop();
  path.push({ indent, key: m[1] });
  fields++;
  let j = i - 1;
  while (j >= 0 && lines[j].trim() === '') j--;
  const above = j >= 0 && /^\s*#/.test(lines[j]);
  const trailing = /\s#\s/.test(line.slice(m[0].length));
  if (!above && !trailing) undocumented.push(`${file}:${i + 1}: ${path.map((p) => p.key).join('.')}`);
});
if (undocumented.length > 0) {
  process.stdout.write(`fields without a comment:\n${undocumented.map((u) => `  ${u}`).join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`all ${fields} fields of ${file} have a comment\n`);
