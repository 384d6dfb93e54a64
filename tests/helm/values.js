// Reading values files as Helm does, shared by validate-values.js and
// check-rendered.js.
'use strict';

const fs = require('fs');
const YAML = require('yaml');

// A values file as a plain object. Helm reads YAML 1.1 (go-yaml v2), where
// `on` and `yes` are booleans too. Throws with the file's name on bad input.
function readYaml(path) {
  const text = fs.readFileSync(path, 'utf8');
  const doc = YAML.parseDocument(text, { version: '1.1' });
  if (doc.errors.length > 0) throw new Error(`${path} is not YAML: ${doc.errors[0].message}`);
  const value = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${path} is not a map of values`);
  return value;
}

function isMap(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Helm's coalescing of user values over the chart's: maps merge key by key,
// a null removes the key, anything else replaces.
function merge(base, overlay) {
  const out = { ...base };
  for (const [key, value] of Object.entries(overlay)) {
    if (value === null) {
      delete out[key];
    } else if (isMap(value) && isMap(out[key])) {
      out[key] = merge(out[key], value);
    } else {
      out[key] = value;
    }
  }
  return out;
}

// values.yaml with each overlay merged over it, as `helm install -f` sees them.
function loadValues(valuesPath, overlays) {
  let values = readYaml(valuesPath);
  for (const o of overlays) values = merge(values, readYaml(o));
  return values;
}

module.exports = { readYaml, merge, loadValues, isMap };
