// cpu, memory and network of an agent over 1h, 24h or 7d (uPlot), loaded
// once and grown by the live samples of the agentMetrics subscription.
import { html, useEffect, useRef, useState } from '/assets/vendor/htm/standalone.module.js';
import uPlot from '/assets/vendor/uplot/uPlot.esm.js';
import { gql, subscribe } from './api.js';
import { ErrorText } from './util.js';

const series = [
  { key: 'cpu', label: 'CPU (% of a core)', color: '#2454c6' },
  { key: 'memory', label: 'Memory (MiB)', color: '#1f7a4d' },
  { key: 'network', label: 'Network (bytes)', color: '#9a4d00' },
];

const query = `query Metrics($id: ID!, $period: String) {
  agentMetrics(id: $id, period: $period) {
    cpu { timestamp value } memory { timestamp value } network { timestamp value }
  }
}`;
const live = `subscription Samples($id: ID!) { agentMetrics(id: $id) { timestamp cpu memory network } }`;

function Chart({ label, color, data }) {
  const ref = useRef();
  const plot = useRef();
  useEffect(() => {
    plot.current = new uPlot({
      width: Math.max(240, ref.current.clientWidth), height: 160,
      series: [{}, { label, stroke: color, width: 2, fill: `${color}22` }],
      axes: [{}, { size: 60 }],
      legend: { show: false },
    }, data, ref.current);
    return () => plot.current.destroy();
  }, []);
  useEffect(() => { plot.current.setData(data); }, [data]);
  return html`<figure class="chart"><figcaption>${label}</figcaption><div ref=${ref} role="img" aria-label=${`${label} chart`}></div></figure>`;
}

export function Charts({ agentId }) {
  const [period, setPeriod] = useState('1h');
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let on = true;
    let sub = null;
    gql(query, { id: agentId, period }).then((d) => {
      if (!on) return;
      const m = d.agentMetrics;
      const cols = {};
      for (const s of series) {
        const pts = m[s.key] || [];
        cols[s.key] = [pts.map((p) => Date.parse(p.timestamp) / 1000), pts.map((p) => p.value)];
      }
      setData(cols);
      sub = subscribe(live, { id: agentId }, (x) => {
        const s = x.agentMetrics;
        const t = Date.parse(s.timestamp) / 1000;
        setData((old) => {
          const next = {};
          for (const k of Object.keys(old)) next[k] = [[...old[k][0], t], [...old[k][1], s[k]]];
          return next;
        });
      }, setError);
    }, setError);
    return () => { on = false; if (sub) sub.dispose(); };
  }, [agentId, period]);

  return html`<section aria-labelledby="metrics-title">
    <h2 id="metrics-title">Metrics</h2>
    <div class="row" role="group" aria-label="Period">
      ${['1h', '24h', '7d'].map((p) => html`<button type="button" aria-pressed=${p === period} onClick=${() => setPeriod(p)}>${p}</button>`)}
    </div>
    <${ErrorText} error=${error}/>
    ${data && html`<div class="charts">${series.map((s) => html`<${Chart} key=${s.key + period} label=${s.label} color=${s.color} data=${data[s.key]}/>`)}</div>`}
  </section>`;
}
