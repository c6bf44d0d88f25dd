// The REST reference, rendered by Swagger UI from the server's own OpenAPI
// document. validatorUrl null: Swagger UI would otherwise send the document
// to validator.swagger.io.
SwaggerUIBundle({
  url: '/v1/openapi.json',
  dom_id: '#swagger',
  validatorUrl: null,
  deepLinking: false,
  tryItOutEnabled: false,
});
