// Builds DOM nodes. Every string child becomes a text node and every
// attribute is set with setAttribute, so names from the server (products,
// stores, campaigns, dealers) are never parsed as HTML: the console has no
// innerHTML anywhere.
//
//   h('tr', { 'data-testid': `store-${id}` }, h('td', {}, name))

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'style') {
      Object.assign(el.style, value);
    } else if (key === 'value' || key === 'checked' || key === 'hidden') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A table from column headers (strings, or <th> elements) and rows (arrays of
// cells, or <tr> elements).
export function table(headers, rows, props = {}) {
  return h('table', props,
    h('thead', {}, h('tr', {}, headers.map((x) => (x instanceof Node ? x : h('th', {}, x))))),
    h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

// A header for a column of numbers (right-aligned like its cells).
export function numHead(text) {
  return h('th', { class: 'num' }, text);
}
