// Sign-in, services health and users.
import { html, useEffect, useState } from '/assets/vendor/htm/standalone.module.js';
import { gql, session, subscribe } from './api.js';
import { ErrorText, Status, time, useAsync } from './util.js';

export function SignIn({ onSignedIn, reason }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState(reason);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const d = await gql('mutation SignIn($email: String!, $password: String!) { createToken(email: $email, password: $password) { accessToken } }', { email, password });
      session.set(d.createToken.accessToken);
      onSignedIn();
    } catch (err) {
      setError(err);
    }
  };
  // No name attributes: even if this form were ever submitted natively,
  // nothing would land in a URL.
  return html`<main class="signin">
    <h1>neuais</h1>
    <form onSubmit=${submit} aria-labelledby="signin-title">
      <h2 id="signin-title">Sign in</h2>
      <label>E-mail <input type="email" autocomplete="username" required value=${email} onInput=${(e) => setEmail(e.currentTarget.value)}/></label>
      <label>Password <input type="password" autocomplete="current-password" required value=${password} onInput=${(e) => setPassword(e.currentTarget.value)}/></label>
      <button type="submit">Sign in</button>
      <${ErrorText} error=${error}/>
    </form>
  </main>`;
}

export function ServicesPage() {
  const [services, setServices] = useState(() => new Map());
  const [error, setError] = useState(null);
  useEffect(() => {
    const sub = subscribe('subscription { servicesChanged { name status detail version uptime } }', {}, (d) => {
      setServices((old) => {
        const next = new Map(old);
        for (const s of d.servicesChanged) next.set(s.name, s);
        return next;
      });
    }, setError);
    return () => sub.dispose();
  }, []);
  return html`<section aria-labelledby="services-title">
    <h1 id="services-title">Services</h1>
    <${ErrorText} error=${error}/>
    <table>
      <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Detail</th><th scope="col">Version</th><th scope="col">Uptime</th></tr></thead>
      <tbody>${[...services.values()].map((s) => html`<tr key=${s.name} data-service=${s.name}>
        <td>${s.name}</td><td><${Status} value=${s.status}/></td><td>${s.detail}</td><td>${s.version}</td><td>${s.uptime}</td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}

export function UsersPage() {
  const [n, reload] = useState(0);
  const [page, error] = useAsync(() => gql('{ users(limit: 1000, sort: "email") { total items { id email role createdAt } } }').then((d) => d.users), [n]);
  const [form, setForm] = useState({ email: '', password: '', role: 'viewer' });
  const [formError, setFormError] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const create = async (e) => {
    e.preventDefault();
    setFormError(null);
    try {
      await gql('mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: form });
      setForm({ email: '', password: '', role: 'viewer' });
      reload(n + 1);
    } catch (err) {
      setFormError(err);
    }
  };
  return html`<section aria-labelledby="users-title">
    <h1 id="users-title">Users</h1>
    <details class="create"><summary>Add a user</summary>
      <form onSubmit=${create}>
        <label>E-mail <input type="email" required value=${form.email} onInput=${set('email')}/></label>
        <label>Password <input type="password" autocomplete="new-password" required minlength="8" value=${form.password} onInput=${set('password')}/></label>
        <label>Role <select value=${form.role} onChange=${set('role')}>
          <option value="viewer">viewer</option><option value="developer">developer</option><option value="admin">admin</option>
        </select></label>
        <button type="submit">Add</button>
        <${ErrorText} error=${formError}/>
      </form>
    </details>
    <${ErrorText} error=${error}/>
    ${page && html`<table>
      <thead><tr><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Created</th></tr></thead>
      <tbody>${page.items.map((u) => html`<tr key=${u.id}><td>${u.email}</td><td>${u.role}</td><td>${time(u.createdAt)}</td></tr>`)}</tbody>
    </table>`}
  </section>`;
}
