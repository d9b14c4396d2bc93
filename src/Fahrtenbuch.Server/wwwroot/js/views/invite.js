import { ApiError, NetworkError, post } from '../api.js';
import { h, field } from '../dom.js';
import { t } from '../i18n.js';

/** Accepting an invitation: e-mail, the code from the fleet manager and a new password; then signed in. */
export function inviteView({ onLogin }) {
  const query = new URLSearchParams(location.search);
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, maxlength: 256, value: query.get('email') || '', testid: 'invite-email' });
  const code = h('input', { name: 'code', autocomplete: 'one-time-code', required: true, maxlength: 200, value: query.get('code') || '', testid: 'invite-code' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password', required: true, maxlength: 256, testid: 'invite-password' });
  const repeat = h('input', { type: 'password', name: 'repeat', autocomplete: 'new-password', required: true, maxlength: 256, testid: 'invite-repeat' });
  const error = h('p', { class: 'form-error', role: 'alert', testid: 'invite-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', testid: 'invite-submit' }, t('inviteAccept'));
  const fail = (text) => {
    error.textContent = text;
    error.hidden = false;
  };
  const form = h('form', {
    class: 'card login-card',
    onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      if (password.value !== repeat.value) {
        fail(t('passwordsDiffer'));
        repeat.select();
        return;
      }
      submit.disabled = true;
      const credentials = { email: email.value.trim(), password: password.value };
      try {
        await post('/api/auth/accept-invitation', { ...credentials, code: code.value.trim() });
        await onLogin(await post('/api/auth/login', { ...credentials, useCookie: true }));
      } catch (err) {
        fail(err instanceof NetworkError ? t('offlineNoSession') : err instanceof ApiError ? err.message : t('errorGeneric'));
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'login-brand' }, h('img', { src: '/icons/icon.svg', alt: '', width: 56, height: 56 }), h('h1', {}, t('appName'))),
  h('h2', { class: 'login-title' }, t('inviteAcceptTitle')),
  h('p', { class: 'muted' }, t('inviteAcceptIntro')),
  field(t('email'), email),
  field(t('invitationCodeLabel'), code),
  field(t('newPassword'), password),
  field(t('repeatPassword'), repeat),
  error,
  submit,
  h('a', { class: 'btn btn-link', href: '/login' }, t('backToLogin')));
  document.title = `${t('inviteAcceptTitle')} · ${t('appName')}`;
  return h('main', { class: 'login-page', id: 'main' }, form);
}
