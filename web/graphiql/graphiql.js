// GraphiQL over this endpoint: queries and mutations over HTTP, subscriptions
// over graphql-ws, both with the token kept in this tab's session storage,
// where the dashboard keeps it too, so it is entered once.
(function () {
  'use strict';
  var key = 'neuais.token';
  var token = sessionStorage.getItem(key) || '';
  var input = document.getElementById('token-input');
  var state = document.getElementById('token-state');
  state.textContent = token ? 'Token set for HTTP and WebSocket' : 'No token: only createToken works';

  document.getElementById('token').addEventListener('submit', function (e) {
    e.preventDefault();
    var value = input.value.trim().replace(/^Bearer\s+/i, '');
    if (!value) return;
    sessionStorage.setItem(key, value);
    location.reload(); // a new WebSocket connection, authenticated with it
  });
  document.getElementById('token-forget').addEventListener('click', function () {
    sessionStorage.removeItem(key);
    location.reload();
  });

  var url = location.origin + location.pathname;
  var wsClient = graphqlWs.createClient({
    url: url.replace(/^http/, 'ws'),
    lazy: true,
    retryAttempts: 5,
    connectionParams: function () { return token ? { Authorization: 'Bearer ' + token } : {}; },
  });
  var fetcher = GraphiQL.createFetcher({
    url: url,
    wsClient: wsClient,
    fetch: function (u, init) {
      init = init || {};
      var headers = new Headers(init.headers);
      if (token && !headers.has('Authorization')) headers.set('Authorization', 'Bearer ' + token);
      init.headers = headers;
      return fetch(u, init);
    },
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: '# Queries and mutations run over HTTP, subscriptions over graphql-ws.\n{\n  me { email role }\n  agents(limit: 10) { total items { id name status replicas region } }\n}\n',
  }));
})();
