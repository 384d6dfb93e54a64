// A section of the console: heading, optional filter controls, an error line
// and a body. `refresh` loads its data and renders it; a failed read shows the
// server's message in the section (and a 401 sends the whole console back to
// the login form).
import { h, fill } from './dom.js';
import { t } from './i18n.js';
import { clock, count } from './format.js';

export function panel(ctx, { id, title, controls = null, load, render }) {
  const error = h('p', { class: 'error', role: 'alert', 'data-testid': `error-${id}`, hidden: true });
  const stamp = h('span', { class: 'stamp' });
  const body = h('div', { class: 'body' }, h('p', { class: 'muted' }, t('loading')));
  const el = h('section', { id, class: 'panel' },
    h('header', {}, h('h2', {}, title), stamp),
    controls, error, body);

  let inFlight = false;
  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    try {
      const data = await load();
      error.hidden = true;
      render(body, data);
      stamp.textContent = `${t('updated')} ${clock()}`;
    } catch (e) {
      if (e.status === 401) {
        ctx.unauthorized(e);
        return;
      }
      fill(error, `${e.code ? `${e.code}: ` : ''}${e.message}`);
      error.hidden = false;
    } finally {
      inFlight = false;
    }
  }
  return { el, body, refresh };
}

// A row of labelled inputs and a submit button, as a form.
export function filters(fields, onSubmit, ...extra) {
  const inputs = {};
  const form = h('form', { class: 'filters' },
    fields.map((f) => {
      const input = f.options
        ? h('select', { name: f.name, id: f.id }, f.options.map(([v, text]) => h('option', { value: v }, text)))
        : h('input', { name: f.name, id: f.id, type: f.type || 'text', placeholder: f.placeholder || '',
                       value: f.value || '', autocomplete: 'off' });
      inputs[f.name] = input;
      return h('label', {}, h('span', {}, f.label), input);
    }),
    h('button', { type: 'submit' }, t('query')),
    extra);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    onSubmit();
  });
  const values = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value.trim()]));
  return { form, values };
}

// The line under a paged list: how many are shown (`shownLabel`) and, while
// there is a next page, a button (`moreLabel`) that calls `onMore`.
// `testid` names both: `${testid}-shown`, `${testid}-more`.
export function moreLine({ testid, shownLabel, shown, moreLabel, hasMore, onMore }) {
  return h('p', { class: 'more' },
    h('span', { class: 'muted', 'data-testid': `${testid}-shown` }, `${shownLabel}: ${count(shown)}`),
    hasMore ? h('button', { type: 'button', 'data-testid': `${testid}-more`, onclick: onMore }, moreLabel) : null);
}
