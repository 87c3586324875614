// Linli's own start-up script for GraphiQL (not vendored). It reads its
// settings from the page's JSON block, so that the page needs no inline
// script and its Content-Security-Policy can forbid them all.
(function () {
  "use strict";
  var config = JSON.parse(
    document.getElementById("linli-graphiql-config").textContent
  );
  function url(path, subscription) {
    var absolute = new URL(path, window.location.origin);
    if (subscription) {
      absolute.protocol = absolute.protocol === "https:" ? "wss:" : "ws:";
    }
    return absolute.toString();
  }
  var options = {
    url: url(config.endpoint, false),
    subscriptionUrl: url(config.subscriptionEndpoint, true),
    fetch: function (input, init) {
      return fetch(input, Object.assign({}, init, { credentials: "same-origin" }));
    },
  };
  if (config.wsConnectionParams) {
    options.wsConnectionParams = config.wsConnectionParams;
  }
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher(options),
      defaultEditorToolsVisibility: true,
    })
  );
})();
