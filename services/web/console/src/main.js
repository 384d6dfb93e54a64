// The brand console: a login form, then five sections read from
// /console/api/… with the session cookie that login set.
import './style.css';
import { h, fill } from './dom.js';
import { api } from './api.js';
import { t, lang, setLang } from './i18n.js';
import { batches } from './sections/batches.js';
import { campaigns } from './sections/campaigns.js';
import { diversion } from './sections/diversion.js';
import { regions } from './sections/regions.js';
import { leaderboard } from './sections/leaderboard.js';

const root = document.getElementById('app');

// What the console view holds while it is shown: timers and charts to stop
// when it goes (logout, a lost session, a language switch).
let teardown = [];

function stop() {
  for (const f of teardown.splice(0)) f();
}

function langButton(onSwitch) {
  return h('button', { type: 'button', id: 'lang', class: 'link', onclick: () => {
    setLang(lang() === 'zh' ? 'en' : 'zh');
    onSwitch();
  } }, t('lang'));
}

function showLogin(message) {
  stop();
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert', hidden: !message }, message || '');
  const token = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true,
                             placeholder: 'ym_…', spellcheck: 'false' });
  const brand = h('input', { id: 'brand', name: 'brand', type: 'text', autocomplete: 'off' });
  const button = h('button', { id: 'login', type: 'submit' }, t('login'));
  const form = h('form', { id: 'login-form', class: 'login' },
    h('h1', {}, t('title')),
    h('p', { class: 'muted small' }, t('loginHint')),
    h('label', {}, h('span', {}, t('token')), token),
    h('label', {}, h('span', {}, t('brandOptional')), brand),
    button, error,
    h('p', {}, langButton(() => showLogin())));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    const body = { token: token.value.trim() };
    if (brand.value.trim()) body.brand = brand.value.trim();
    try {
      const me = await api('login', { method: 'POST', body });
      token.value = '';
      showConsole(me);
    } catch (err) {
      fill(error, err.message);
      error.hidden = false;
      button.disabled = false;
    }
  });
  fill(root, form);
  token.focus();
}

function showConsole(me) {
  stop();
  const ctx = {
    api,
    unauthorized: (e) => showLogin(e.message),
    onDispose: (f) => teardown.push(f),
    // Runs `f` every `ms` while the page is visible.
    every(ms, f) {
      const id = setInterval(() => {
        if (!document.hidden) f();
      }, ms);
      teardown.push(() => clearInterval(id));
    },
  };
  const sections = [batches(ctx), campaigns(ctx), diversion(ctx), regions(ctx), leaderboard(ctx)];
  const logout = h('button', { type: 'button', id: 'logout', class: 'link', onclick: async () => {
    try {
      await api('logout', { method: 'POST' });
    } catch {
      // The cookie is gone or the server is; either way show the login form.
    }
    showLogin();
  } }, t('logout'));
  fill(root,
    h('header', { class: 'top' },
      h('h1', {}, t('title')),
      h('nav', {}, sections.map((s) => h('a', { href: `#${s.el.id}` }, s.el.querySelector('h2').textContent))),
      h('div', { class: 'who' },
        h('span', { 'data-testid': 'brand' }, `${t('brand')}: ${me.brand}`),
        h('span', { class: 'muted' }, `${t('role')}: ${me.role}`),
        langButton(() => showConsole(me)), logout)),
    h('main', {}, sections.map((s) => s.el)));
  for (const s of sections) s.refresh();
}

async function start() {
  setLang(lang());
  try {
    showConsole(await api('api/me'));
  } catch (e) {
    showLogin(e.status === 401 ? '' : e.message);
  }
}

start();
