package rest

import "net/http"

var authRoutes = []Route{
	{Method: http.MethodPost, Path: "/auth/token", Summary: "Exchange e-mail and password for a bearer token", Public: true,
		Doc:    `mutation($email: String!, $password: String!) { r: createToken(email: $email, password: $password) { access_token: accessToken token_type: tokenType expires_in: expiresIn } }`,
		Params: []Param{{Var: "email", From: FromBody, Key: "email"}, {Var: "password", From: FromBody, Key: "password"}}},
}
