// The agents table: every agent of the organization, kept current by the
// agentEvents subscription (no polling), filtered and sorted in the page and
// drawn in a window of rows, so a thousand agents scroll without lag.
import { html, useEffect, useMemo, useRef, useState } from '/assets/vendor/htm/standalone.module.js';
import { gql, request, subscribe, watchConnection } from './api.js';
import { ErrorText, Status, canChange, time } from './util.js';

export const agentFields = 'id name status replicas region runtime createdAt updatedAt';
const pageSize = 500;
const rowHeight = 36;

async function loadAll() {
  const all = [];
  for (let offset = 0; ; offset += pageSize) {
    const d = await gql(`query Agents($offset: Int) { agents(limit: ${pageSize}, offset: $offset, sort: "name:asc") { hasMore items { ${agentFields} } } }`, { offset });
    all.push(...d.agents.items);
    if (!d.agents.hasMore) return all;
  }
}

// refetch loads changed agents in one request, an alias per agent. agent
// is non-null, so one agent deleted meanwhile voids the whole answer: then
// each is asked alone, and those not found come back as null.
async function refetch(ids) {
  const one = (id, i) => `a${i}: agent(id: ${JSON.stringify(id)}) { ${agentFields} }`;
  const body = await request(`{ ${ids.map(one).join('\n')} }`);
  if (body.data) return ids.map((id, i) => [id, body.data[`a${i}`]]);
  return Promise.all(ids.map(async (id) => {
    try {
      return [id, (await gql(`{ ${one(id, 0)} }`)).a0];
    } catch (err) {
      if (err.code === 'not_found') return [id, null];
      throw err;
    }
  }));
}

const newer = (a, b) => !b || Date.parse(a.updatedAt) >= Date.parse(b.updatedAt);

export function AgentsPage({ me }) {
  const [agents, setAgents] = useState(() => new Map());
  const [error, setError] = useState(null);
  const [filter, setFilter] = useState('');
  const [status, setStatus] = useState('');
  const [sort, setSort] = useState({ key: 'name', dir: 1 });
  const [scroll, setScroll] = useState(0);
  const [loaded, setLoaded] = useState(false);
  const box = useRef();

  useEffect(() => {
    let on = true;
    const reload = () => loadAll().then((list) => {
      if (!on) return;
      setAgents(new Map(list.map((a) => [a.id, a])));
      setLoaded(true);
    }, setError);
    reload();
    const stale = new Set();
    let timer = 0;
    const flush = () => {
      timer = 0;
      const ids = [...stale];
      stale.clear();
      refetch(ids).then((rows) => on && setAgents((old) => {
        const next = new Map(old);
        for (const [id, a] of rows) {
          if (!a) next.delete(id);
          else if (newer(a, old.get(id))) next.set(id, a);
        }
        return next;
      }), setError);
    };
    const sub = subscribe(`subscription { agentEvents { event data { agentId status } } }`, {}, (d) => {
      const ev = d.agentEvents;
      if (ev.event === 'agent.deleted') {
        setAgents((old) => { const next = new Map(old); next.delete(ev.data.agentId); return next; });
        return;
      }
      stale.add(ev.data.agentId);
      if (!timer) timer = setTimeout(flush, 50);
    }, setError);
    const unwatch = watchConnection((_, reconnected) => { if (reconnected) reload(); });
    return () => { on = false; sub.dispose(); unwatch(); clearTimeout(timer); };
  }, []);

  const rows = useMemo(() => {
    const f = filter.toLowerCase();
    const list = [...agents.values()].filter((a) => (!status || a.status === status) && (!f || a.name.includes(f) || a.region.includes(f)));
    const k = sort.key;
    list.sort((a, b) => (a[k] < b[k] ? -sort.dir : a[k] > b[k] ? sort.dir : 0));
    return list;
  }, [agents, filter, status, sort]);

  const height = box.current ? box.current.clientHeight : 540;
  const first = Math.max(0, Math.floor(scroll / rowHeight) - 5);
  const last = Math.min(rows.length, first + Math.ceil(height / rowHeight) + 10);

  const header = (key, label) => {
    const dir = sort.key === key ? (sort.dir > 0 ? 'ascending' : 'descending') : 'none';
    return html`<th scope="col" aria-sort=${dir}><button type="button" class="sort" onClick=${() => setSort({ key, dir: sort.key === key ? -sort.dir : 1 })}>
      ${label}<span aria-hidden="true">${dir === 'ascending' ? ' ▲' : dir === 'descending' ? ' ▼' : ''}</span></button></th>`;
  };

  const created = (a) => setAgents((old) => (old.has(a.id) ? old : new Map(old).set(a.id, a)));

  return html`<section aria-labelledby="agents-title">
    <h1 id="agents-title">Agents</h1>
    ${canChange(me) && html`<${CreateAgent} onCreated=${created}/>`}
    <div class="row">
      <label>Filter <input type="search" placeholder="name or region" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)}/></label>
      <label>Status <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
        <option value="">any</option>
        ${['deploying', 'running', 'stopped', 'error'].map((s) => html`<option value=${s}>${s}</option>`)}
      </select></label>
      <span class="muted" role="status">${loaded ? `${rows.length} of ${agents.size} agents` : 'Loading…'}</span>
    </div>
    <${ErrorText} error=${error}/>
    <div class="tablebox" ref=${box} onScroll=${(e) => setScroll(e.currentTarget.scrollTop)}>
      <table class="agents">
        <thead><tr>${header('name', 'Name')}${header('status', 'Status')}${header('replicas', 'Replicas')}${header('region', 'Region')}${header('createdAt', 'Created')}</tr></thead>
        <tbody>
          <tr aria-hidden="true" style=${{ height: `${first * rowHeight}px` }}></tr>
          ${rows.slice(first, last).map((a) => html`<tr key=${a.id} data-agent=${a.name}>
            <td><a href=${`#/agents/${a.id}`}>${a.name}</a></td>
            <td class="st"><${Status} value=${a.status}/></td>
            <td class="num replicas">${a.replicas}</td>
            <td>${a.region}</td>
            <td>${time(a.createdAt)}</td>
          </tr>`)}
          <tr aria-hidden="true" style=${{ height: `${(rows.length - last) * rowHeight}px` }}></tr>
        </tbody>
      </table>
    </div>
  </section>`;
}

function CreateAgent({ onCreated }) {
  const [form, setForm] = useState({ name: '', runtime: 'go', binaryUrl: '', replicas: 1 });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setForm({ ...form, [k]: e.currentTarget.value });
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await gql(`mutation Create($input: CreateAgentInput!) { createAgent(input: $input) { ${agentFields} } }`, {
        input: { name: form.name, runtime: form.runtime, binaryUrl: form.binaryUrl, config: { replicas: Number(form.replicas) } },
      });
      onCreated(d.createAgent);
      setForm({ ...form, name: '' });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`<details class="create">
    <summary>Create an agent</summary>
    <form onSubmit=${submit}>
      <label>Name <input required value=${form.name} onInput=${set('name')} autocomplete="off" spellcheck="false"/></label>
      <label>Runtime <select value=${form.runtime} onChange=${set('runtime')}>
        <option value="go">go</option><option value="rust">rust</option><option value="native">native</option>
      </select></label>
      <label>Binary URL <input required type="text" value=${form.binaryUrl} onInput=${set('binaryUrl')} placeholder="https://…"/></label>
      <label>Replicas <input type="number" min="1" value=${form.replicas} onInput=${set('replicas')}/></label>
      <button type="submit" disabled=${busy}>Create</button>
      <${ErrorText} error=${error}/>
    </form>
  </details>`;
}
