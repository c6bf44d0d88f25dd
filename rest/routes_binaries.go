package rest

import "net/http"

// binaryFields are the names fields= accepts on GET /binaries.
var binaryFields = []Field{
	{Name: "id"},
	{Name: "sha256"},
	{Name: "size"},
	{Name: "url"},
	{Name: "created_at", Selection: "created_at: createdAt"},
}

const binarySelection = `id sha256 size url created_at: createdAt`

// binaryRoutes serve uploads; GET /binaries/{id}/content, the bytes
// themselves, is no GraphQL operation and is served beside the table
// (internal/app).
var binaryRoutes = []Route{
	{Method: http.MethodPost, Path: "/binaries", Summary: "Upload an agent binary: the raw bytes (application/octet-stream) or a multipart/form-data part named file (admins and developers)",
		Doc:    `mutation($file: Upload!, $idempotencyKey: String) { r: uploadBinary(file: $file, idempotencyKey: $idempotencyKey) { ` + binarySelection + ` } }`,
		Upload: "file", Status: http.StatusCreated, Location: "/binaries/",
		Params: []Param{{Var: "idempotencyKey", From: FromHeader, Key: "Idempotency-Key"}}},
	{Method: http.MethodGet, Path: "/binaries", Summary: "List the organization's binaries", List: true, Fields: binaryFields,
		Doc: listQuery("binaries", "binaries", "{ {fields} }")},
	{Method: http.MethodGet, Path: "/binaries/{id}", Summary: "Get a binary",
		Doc:    `query($id: ID!) { r: binary(id: $id) { ` + binarySelection + ` } }`,
		Params: []Param{idParam}},
	{Method: http.MethodDelete, Path: "/binaries/{id}", Summary: "Delete a binary (409 while an agent refers to it)", Message: "Binary deleted successfully",
		Doc:    `mutation($id: ID!) { r: deleteBinary(id: $id) { id } }`,
		Params: []Param{idParam}},
}
