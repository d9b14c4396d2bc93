import { ApiError, NetworkError, post } from '../api.js';
import { h, field } from '../dom.js';
import { t, getLang, setLang } from '../i18n.js';

export function loginView({ onLogin }) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, testid: 'login-email' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'login-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'login-submit' }, t('signIn'));
  const form = h('form', {
    class: 'card login-card',
    novalidate: false,
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      submit.disabled = true;
      submit.textContent = t('signingIn');
      try {
        const me = await post('/api/auth/login', { email: email.value.trim(), password: password.value, useCookie: true });
        await onLogin(me);
      } catch (err) {
        error.textContent = err instanceof NetworkError ? t('offlineNoSession') : err instanceof ApiError ? err.message : t('errorGeneric');
        error.hidden = false;
        submit.disabled = false;
        submit.textContent = t('signIn');
        password.select();
      }
    },
  },
  h('div', { class: 'login-brand' }, h('img', { src: '/icons/icon.svg', alt: '', width: 56, height: 56 }), h('h1', {}, t('appName'))),
  h('p', { class: 'muted' }, t('loginIntro')),
  h('h2', { class: 'login-title' }, t('loginTitle')),
  field(t('email'), email),
  field(t('password'), password),
  error,
  submit,
  h('a', { class: 'btn btn-link', href: '/invite', testid: 'invite-link' }, t('inviteAcceptLink')),
  h('button', { type: 'button', class: 'btn btn-link', testid: 'lang-toggle', lang: getLang() === 'de' ? 'en' : 'de', onclick: () => setLang(getLang() === 'de' ? 'en' : 'de') }, t('switchLanguage')));
  document.title = `${t('loginTitle')} · ${t('appName')}`;
  return h('main', { class: 'login-page', id: 'main' }, form);
}
