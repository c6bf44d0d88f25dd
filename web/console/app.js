// The dashboard: a hash router over the pages, the signed-in user, and the
// banner shown while the live connection is down.
import { html, render, useEffect, useState } from '/assets/vendor/htm/standalone.module.js';
import { gql, session, watchConnection } from './api.js';
import { AgentPage } from './agent.js';
import { AgentsPage } from './agents.js';
import { ServicesPage, SignIn, UsersPage } from './pages.js';

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#\/?/, '').split('/');
}

function Banner() {
  const [state, setState] = useState('connecting');
  useEffect(() => watchConnection((s) => setState(s)), []);
  if (state !== 'down') return null;
  return html`<div class="banner" role="alert">Connection lost: reconnecting… Live data resumes where it stopped.</div>`;
}

function App() {
  const [me, setMe] = useState(null);
  const [reason, setReason] = useState(null);
  const [checked, setChecked] = useState(false);
  const route = useRoute();

  const whoami = () => {
    if (!session.token()) {
      setChecked(true);
      return;
    }
    gql('{ me { id email role } }').then((d) => { setMe(d.me); setChecked(true); }, (e) => {
      session.forget();
      setReason(e);
      setChecked(true);
    });
  };
  useEffect(whoami, []);

  const signOut = () => {
    session.forget();
    setMe(null);
    setReason(null);
    location.hash = '';
  };

  if (!checked) return null;
  if (!me) return html`<${SignIn} reason=${reason} onSignedIn=${whoami}/>`;

  const [page, id] = route;
  let body;
  if (page === 'agents' && id) body = html`<${AgentPage} key=${id} id=${id} me=${me}/>`;
  else if (page === 'services') body = html`<${ServicesPage}/>`;
  else if (page === 'users' && me.role === 'admin') body = html`<${UsersPage}/>`;
  else body = html`<${AgentsPage} me=${me}/>`;
  const link = (href, label, current) => html`<a href=${href} aria-current=${current ? 'page' : undefined}>${label}</a>`;

  return html`<a class="skip" href="#main">Skip to content</a>
    <header class="top">
      <strong>neuais</strong>
      <nav aria-label="Main">
        ${link('#/agents', 'Agents', page === '' || page === 'agents')}
        ${link('#/services', 'Services', page === 'services')}
        ${me.role === 'admin' && link('#/users', 'Users', page === 'users')}
        <a href="/graphql">GraphiQL</a>
        <a href="/docs">API docs</a>
      </nav>
      <span class="me">${me.email} (${me.role})</span>
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <${Banner}/>
    <main id="main" tabindex="-1">${body}</main>`;
}

render(html`<${App}/>`, document.getElementById('app'));
