// A live log tail: a bounded buffer filled over graphql-ws, drawn once per
// animation frame, only the visible lines in the DOM, so it stays smooth at
// a thousand lines a second. After a lost connection it resumes after the
// last line it holds (the subscription's after cursor), so no line is lost.
import { html, useEffect, useRef, useState } from '/assets/vendor/htm/standalone.module.js';
import { subscribe } from './api.js';
import { ErrorText } from './util.js';

const maxLines = 5000;
const lineHeight = 18;
const levels = ['debug', 'info', 'warn', 'error'];

const query = `subscription Logs($id: ID!, $tail: Int, $after: ID) {
  agentLogs(id: $id, tail: $tail, after: $after) { id replica timestamp level message }
}`;

export function LogTail({ agentId }) {
  const buf = useRef([]);
  const pending = useRef([]);
  const view = useRef();
  const [, draw] = useState(0);
  const [paused, setPaused] = useState(false);
  const [level, setLevel] = useState('debug');
  const [search, setSearch] = useState('');
  const [error, setError] = useState(null);
  const [scrollTop, setScrollTop] = useState(0);
  const follow = useRef(true);
  const pausedRef = useRef(false);
  pausedRef.current = paused;

  useEffect(() => {
    buf.current = [];
    let frame = 0;
    const flush = () => {
      frame = 0;
      const b = buf.current;
      b.push(...pending.current);
      pending.current = [];
      if (b.length > maxLines) b.splice(0, b.length - maxLines);
      if (!pausedRef.current) draw((n) => n + 1);
    };
    const sub = subscribe(query, { id: agentId, tail: 200 }, (d) => {
      const line = d.agentLogs;
      pending.current.push(line);
      sub.payload.variables = { id: agentId, after: line.id };
      if (!frame) frame = requestAnimationFrame(flush);
    }, setError);
    return () => { sub.dispose(); if (frame) cancelAnimationFrame(frame); };
  }, [agentId]);

  const min = levels.indexOf(level);
  const needle = search.toLowerCase();
  const shown = buf.current.filter((l) => levels.indexOf(l.level) >= min && (!needle || l.message.toLowerCase().includes(needle)));

  const el = view.current;
  const height = el ? el.clientHeight : 320;
  const total = shown.length * lineHeight;
  let top = scrollTop;
  if (follow.current && !paused) top = Math.max(0, total - height);
  const first = Math.max(0, Math.floor(top / lineHeight) - 5);
  const last = Math.min(shown.length, first + Math.ceil(height / lineHeight) + 10);

  useEffect(() => {
    if (el && follow.current && !paused) el.scrollTop = el.scrollHeight;
  });

  const onScroll = (e) => {
    const t = e.currentTarget;
    follow.current = t.scrollTop + t.clientHeight >= t.scrollHeight - lineHeight;
    setScrollTop(t.scrollTop);
  };

  return html`<section class="logs" aria-labelledby="logs-title">
    <h2 id="logs-title">Logs</h2>
    <div class="row">
      <label>Level <select value=${level} onChange=${(e) => setLevel(e.currentTarget.value)}>
        ${levels.map((l) => html`<option value=${l}>${l === 'debug' ? 'all' : `${l} and above`}</option>`)}
      </select></label>
      <label>Search <input type="search" value=${search} onInput=${(e) => setSearch(e.currentTarget.value)}/></label>
      <button type="button" aria-pressed=${paused} onClick=${() => setPaused(!paused)}>${paused ? 'Resume' : 'Pause'}</button>
      <span class="muted">${shown.length} of ${buf.current.length} lines (last ${maxLines} kept)</span>
    </div>
    <${ErrorText} error=${error}/>
    <div class="logview" ref=${view} onScroll=${onScroll} tabindex="0" role="log" aria-label="Log lines">
      <div style=${{ height: `${total}px`, position: 'relative' }}>
        ${shown.slice(first, last).map((l, i) => html`<div key=${l.id} class=${`line lvl-${l.level}`} style=${{ top: `${(first + i) * lineHeight}px` }}>
          <span class="muted">${l.timestamp.slice(11, 23)}</span> <span class="lvl">${l.level.toUpperCase()}</span> ${l.replica ? `[${l.replica}] ` : '[platform] '}${l.message}
        </div>`)}
      </div>
    </div>
  </section>`;
}
