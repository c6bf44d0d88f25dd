// One agent: its config, endpoints and replicas, the actions the caller's
// role allows (each confirmed first), its live log, metrics and events.
import { html, useEffect, useState } from '/assets/vendor/htm/standalone.module.js';
import { gql, subscribe, watchConnection } from './api.js';
import { Charts } from './charts.js';
import { LogTail } from './logs.js';
import { Confirm, ErrorText, Status, canChange, time } from './util.js';

const fields = 'id name status replicas region runtime binaryUrl config { cpu memory replicas } endpoints createdAt updatedAt';

const actions = {
  start: { label: 'Start', doc: 'startAgent(id: $id)' },
  stop: { label: 'Stop', doc: 'stopAgent(id: $id)' },
  restart: { label: 'Restart', doc: 'restartAgent(id: $id)' },
  delete: { label: 'Delete', doc: 'deleteAgent(id: $id)' },
};

export function AgentPage({ id, me }) {
  const [agent, setAgent] = useState(null);
  const [error, setError] = useState(null);
  const [events, setEvents] = useState([]);
  const [confirm, setConfirm] = useState(null);
  const [replicas, setReplicas] = useState('');
  const [done, setDone] = useState('');

  useEffect(() => {
    let on = true;
    const load = () => gql(`query Agent($id: ID!) { agent(id: $id) { ${fields} } }`, { id }).then((d) => {
      if (!on) return;
      setAgent(d.agent);
      setReplicas((r) => r || String(d.agent.replicas));
    }, (e) => on && setError(e));
    load();
    const sub = subscribe(`subscription Events($id: ID) { agentEvents(agentId: $id) { event timestamp data { status reason } } }`, { id }, (d) => {
      setEvents((old) => [d.agentEvents, ...old].slice(0, 200));
      load();
    }, (e) => on && setError(e));
    const unwatch = watchConnection((_, reconnected) => { if (reconnected) load(); });
    return () => { on = false; sub.dispose(); unwatch(); };
  }, [id]);

  const run = async (name, doc, vars) => {
    setConfirm(null);
    setError(null);
    setDone('');
    try {
      const d = await gql(`mutation Act($id: ID!${vars ? ', $replicas: Int!' : ''}) { result: ${doc} { ${fields} } }`, { id, ...vars });
      if (name === 'delete') {
        location.hash = '#/agents';
        return;
      }
      setAgent(d.result);
      setDone(`${name}: done`);
    } catch (e) {
      setError(e);
    }
  };

  if (!agent) return html`<section><h1>Agent</h1><${ErrorText} error=${error}/>${!error && html`<p>Loading…</p>`}</section>`;
  const ask = (name) => setConfirm({ name, text: `${actions[name].label} agent ${agent.name}?`, go: () => run(name, actions[name].doc) });
  const scale = (e) => {
    e.preventDefault();
    const n = Number(replicas);
    setConfirm({ name: 'scale', text: `Scale agent ${agent.name} to ${n} replicas?`, go: () => run('scale', 'scaleAgent(id: $id, replicas: $replicas)', { replicas: n }) });
  };

  return html`<section aria-labelledby="agent-title">
    <p><a href="#/agents">← Agents</a></p>
    <h1 id="agent-title">${agent.name} <${Status} value=${agent.status}/></h1>
    <dl class="facts">
      <dt>Replicas</dt><dd id="agent-replicas">${agent.replicas}</dd>
      <dt>Region</dt><dd>${agent.region}</dd>
      <dt>Runtime</dt><dd>${agent.runtime}</dd>
      <dt>CPU</dt><dd>${agent.config.cpu} cores</dd>
      <dt>Memory</dt><dd>${agent.config.memory}</dd>
      <dt>Binary</dt><dd class="wrap">${agent.binaryUrl}</dd>
      <dt>Endpoints</dt><dd>${agent.endpoints.map((u) => html`<div class="wrap">${u}</div>`)}</dd>
      <dt>Updated</dt><dd>${time(agent.updatedAt)}</dd>
    </dl>
    ${canChange(me) && html`<div class="row actions" role="group" aria-label="Actions">
      ${['start', 'stop', 'restart'].map((a) => html`<button type="button" onClick=${() => ask(a)}>${actions[a].label}</button>`)}
      <form class="row" onSubmit=${scale}>
        <label>Replicas <input type="number" min="1" value=${replicas} onInput=${(e) => setReplicas(e.currentTarget.value)}/></label>
        <button type="submit">Scale</button>
      </form>
      <button type="button" class="danger" onClick=${() => ask('delete')}>Delete</button>
    </div>`}
    <p class="muted" role="status">${done}</p>
    <${ErrorText} error=${error}/>
    ${confirm && html`<${Confirm} text=${confirm.text} onConfirm=${confirm.go} onCancel=${() => setConfirm(null)}/>`}
    <${LogTail} agentId=${id}/>
    <${Charts} agentId=${id}/>
    <section aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      ${events.length === 0 ? html`<p class="muted">No events since this page opened.</p>` : html`<ol class="timeline">
        ${events.map((e) => html`<li><time>${time(e.timestamp)}</time> <strong>${e.event}</strong>${e.data.status ? ` → ${e.data.status}` : ''}${e.data.reason ? ` (${e.data.reason})` : ''}</li>`)}
      </ol>`}
    </section>
  </section>`;
}
