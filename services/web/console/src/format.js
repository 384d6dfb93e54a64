// Numbers, money and times as the console shows them. 64-bit integers arrive
// as strings (proto3 JSON); they are kept exact with BigInt.

function big(v) {
  try {
    return BigInt(v == null || v === '' ? 0 : v);
  } catch {
    return null;
  }
}

// "12345" -> "12,345".
export function count(v) {
  const n = big(v);
  return n === null ? String(v) : n.toLocaleString('en-US');
}

// Fen to yuan: "1234567" -> "¥12,345.67", "-5" -> "-¥0.05".
export function yuan(fen) {
  let n = big(fen);
  if (n === null) return String(fen);
  const negative = n < 0n;
  if (negative) n = -n;
  const cents = (n % 100n).toString().padStart(2, '0');
  return `${negative ? '-' : ''}¥${(n / 100n).toLocaleString('en-US')}.${cents}`;
}

// Fen to a float of yuan, for charts only.
export function yuanNumber(fen) {
  const n = big(fen);
  return n === null ? 0 : Number(n) / 100;
}

export function num(v) {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

// Parts per million to a percentage: 100000 -> "10%", 1 -> "0.0001%".
export function ppm(v) {
  const n = num(v);
  return `${Number((n / 10000).toFixed(4))}%`;
}

export function percent(part, whole) {
  const w = num(whole);
  return w > 0 ? `${((100 * num(part)) / w).toFixed(1)}%` : '—';
}

// An RFC 3339 time in China time: "2026-11-24 18:00:00"; "—" when absent.
const CHINA = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = Object.fromEntries(CHINA.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

export function clock(d = new Date()) {
  return time(d.toISOString()).slice(11);
}
