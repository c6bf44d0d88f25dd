#!/usr/bin/env bash
# Installs the browser libraries pinned by package-lock.json and copies their
# dist files, unchanged, into vendor/, which the binary embeds (package web).
# CI reruns it and fails when vendor/ changes, as it does for gqlgen.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
m=node_modules
rm -rf vendor
copy() { # copy DEST FILE...: into vendor/DEST
  mkdir -p "vendor/$1"
  cp "${@:2}" "vendor/$1/"
}
# GraphiQL at /graphql: its UMD build on React 18's (React 19 has none), and
# graphql-ws's UMD build for its subscriptions.
copy react $m/react/umd/react.production.min.js $m/react/LICENSE
copy react-dom $m/react-dom/umd/react-dom.production.min.js $m/react-dom/LICENSE
copy graphiql $m/graphiql/graphiql.min.js $m/graphiql/graphiql.min.css $m/graphiql/LICENSE
# The dashboard at /: modules only. htm's standalone build holds Preact and its hooks.
copy graphql-ws $m/graphql-ws/umd/graphql-ws.min.js $m/graphql-ws/dist/client.js $m/graphql-ws/dist/common-*.js $m/graphql-ws/LICENSE.md
copy htm $m/htm/preact/standalone.module.js $m/htm/LICENSE
copy uplot $m/uplot/dist/uPlot.esm.js $m/uplot/dist/uPlot.min.css $m/uplot/LICENSE
# /docs: Swagger UI over GET /v1/openapi.json.
copy swagger-ui $m/swagger-ui-dist/swagger-ui-bundle.js $m/swagger-ui-dist/swagger-ui.css $m/swagger-ui-dist/LICENSE $m/swagger-ui-dist/NOTICE
