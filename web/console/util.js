import { html, useEffect, useRef, useState } from '/assets/vendor/htm/standalone.module.js';

// Status badges carry a word and a shape, not only a colour.
const shapes = { running: '●', deploying: '◐', stopped: '■', error: '✕', healthy: '●', degraded: '▲', unhealthy: '✕' };

export function Status({ value }) {
  return html`<span class=${`status status-${value}`}><span aria-hidden="true">${shapes[value] || '?'} </span>${value}</span>`;
}

export function ErrorText({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.words || String(error)}</p>`;
}

export const canChange = (me) => me && (me.role === 'admin' || me.role === 'developer');

export function time(t) {
  return t ? new Date(t).toLocaleString() : '';
}

// Confirm asks before an action: a modal dialog, which keeps focus inside
// and closes on Escape.
export function Confirm({ text, onConfirm, onCancel }) {
  const ref = useRef();
  useEffect(() => {
    const d = ref.current;
    d.showModal();
    return () => d.open && d.close();
  }, []);
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-text" onCancel=${onCancel}>
    <p id="confirm-text">${text}</p>
    <div class="row">
      <button type="button" class="danger" onClick=${onConfirm}>Confirm</button>
      <button type="button" onClick=${onCancel} autofocus>Cancel</button>
    </div>
  </dialog>`;
}

// useAsync runs fn when deps change and returns [value, error, setValue].
export function useAsync(fn, deps) {
  const [value, setValue] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    setError(null);
    fn().then((v) => live && setValue(v), (e) => live && setError(e));
    return () => { live = false; };
  }, deps);
  return [value, error, setValue];
}
